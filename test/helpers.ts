/** Shared test fixtures: where the conformance suite lives, temp folders, weight edits. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { storedFloat32, type WeightStore } from '../src/models/weightStore.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CONFORMANCE_DIR = process.env['DINOV2_CONFORMANCE_DIR'] ?? join(REPO_ROOT, '..', 'shared', 'conformance');

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'dinov2-ts-test-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Largest absolute difference between two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Replaces every weight whose key matches `pattern` with values(i, key) (e.g. non-zero biases where a random init has zeros). */
export function setWeights(weights: WeightStore, pattern: RegExp, value: (i: number, key: string) => number): void {
  for (const [key, w] of weights) {
    if (!pattern.test(key)) continue;
    const n = w.shape.reduce((a, b) => a * b, 1);
    weights.set(key, storedFloat32(w.shape, Float32Array.from({ length: n }, (_, i) => value(i, key))));
  }
}
