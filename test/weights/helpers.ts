/** Shared fixtures for the weight-format tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

export const MODELS = '/work/shared/conformance/models';
export const TINY = ['tiny-mlp', 'tiny-swiglu', 'tiny-reg4'] as const;

/** A fresh temporary directory, removed when the test file ends. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dinov2-weights-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

let torchPython: string | null | undefined;

/** A Python interpreter that can `import torch`, or null (the torch interop tests are then skipped). */
export function findTorchPython(): string | null {
  if (torchPython !== undefined) return torchPython;
  torchPython = null;
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { timeout: 120_000 });
    if (r.status === 0) {
      torchPython = py;
      break;
    }
  }
  return torchPython;
}

/** Runs a Python script, failing the test with its stderr when it fails. */
export function runPython(python: string, script: string, args: string[] = []): string {
  const r = spawnSync(python, ['-c', script, ...args], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Any python3 (no torch needed), for the standard-library cross-checks. */
export function findPython(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import zipfile, pickle'], { timeout: 60_000 }).status === 0) return py;
  }
  return null;
}
