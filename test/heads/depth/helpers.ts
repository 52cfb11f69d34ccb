/** Fixtures for the dense-head tests: seeded random head files in the official key layout. */
import { writePth } from '../../../src/formats/pth.js';
import { writeSafetensors } from '../../../src/formats/safetensorsWriter.js';
import type { TensorItem } from '../../../src/formats/tensorItem.js';

export const OFFICIAL_REPO = process.env['DINOV2_OFFICIAL'] ?? '/tmp/dinov2-official';

/** xorshift32 uniform in (-1, 1). */
export function uniform(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 0x9e3779b9;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Tensors for `shapes`: weights scaled by 1/√fan-in (so activations stay O(1) through deep heads), biases small. */
export function randomItems(shapes: ReadonlyMap<string, readonly number[]>, seed = 1, prefix = ''): TensorItem[] {
  let k = seed;
  return [...shapes].map(([key, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? n / shape[0]! : 1;
    const scale = key.endsWith('bias') ? 0.1 : key.endsWith('running_var') ? 1 : Math.sqrt(3 / fanIn);
    const data = uniform(n, k++ * 7919).map((v) => (key.endsWith('running_var') ? 0.5 + Math.abs(v) : v * scale));
    return { key: prefix + key, dtype: 'F32' as const, shape, data };
  });
}

export async function writeHead(path: string, shapes: ReadonlyMap<string, readonly number[]>, seed = 1, prefix = 'state_dict.'): Promise<void> {
  const items = randomItems(shapes, seed, prefix);
  if (path.endsWith('.safetensors')) await writeSafetensors(path, items);
  else await writePth(path, items);
}

/** Runs the CLI in-process, capturing what it prints. */
export async function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { runCli } = await import('../../../src/cli/main.js');
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await runCli(args);
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** Width and height from a PNG header. */
export function pngSize(bytes: Uint8Array): [number, number] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [v.getUint32(16), v.getUint32(20)];
}
