/**
 * What the tests that compare with Pillow / torchvision share: the Python that runs them (`PIL_PYTHON`,
 * default /usr/bin/python3; the tests skip without it), a per-file temporary folder for the bytes passed
 * both ways, and the random test images.
 */
import { after, before } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rgbImage, type RgbImage } from '../../src/data/image.js';

export const PYTHON = process.env.PIL_PYTHON ?? '/usr/bin/python3';
const has = (module: string): boolean => spawnSync(PYTHON, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0;
export const HAS_PIL = has('PIL');
export const HAS_TORCHVISION = HAS_PIL && has('torchvision');

/** Runs `script` with the folder as its argument; throws with Python's stderr on failure. */
export function python(script: string, dir: string): void {
  const r = spawnSync(PYTHON, ['-c', script, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
}

/** A temporary folder made before the file's tests and removed after them; call the getter inside a test. */
export function tempDirForTests(prefix: string): () => string {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}

/** Seeded pixels, with every 7th byte pure 0 or 255 (the clipping edges). */
export function randomImage(width: number, height: number, seed: number): RgbImage {
  const img = rgbImage(width, height);
  let s = seed;
  for (let i = 0; i < img.data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    img.data[i] = i % 7 === 0 ? ((s >>> 16) & 1) * 255 : (s >>> 16) & 255;
  }
  return img;
}

/** The first index where two byte arrays differ, or null when equal. */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string | null {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `[${i}]: ${a[i]} vs ${b[i]}`;
  return null;
}
