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

/**
 * A safetensors file's bytes with F32 tensors of the given shapes (data all zero) and its JSON header padded
 * with spaces to exactly `headerLength` bytes, so the leading u64 can be chosen: 19280 (0x4b50) makes the file
 * begin with 'PK', as a zip does.
 */
export function safetensorsWithHeaderLength(tensors: Record<string, number[]>, headerLength: number): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [key, shape] of Object.entries(tensors)) {
    const bytes = 4 * shape.reduce((a, d) => a * d, 1);
    header[key] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = JSON.stringify(header);
  if (json.length > headerLength) throw new Error(`header of ${json.length} bytes does not fit in ${headerLength}`);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLength));
  return Buffer.concat([len, Buffer.from(json.padEnd(headerLength, ' '), 'utf8'), Buffer.alloc(offset)]);
}

/** The bytes of a legacy (torch < 1.6) torch.save file's start: PROTO 2 and the LONG1 magic number. */
export const LEGACY_PICKLE = Buffer.from('80028a0a6cfc9c46f9206aa85019', 'hex');
