/** In-memory safetensors and .npy encodings of float32 arrays, for binary responses. */
import { npyHeader } from '../formats/npy.js';

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** safetensors: u64 header length, JSON header (padded to 8 bytes), then the tensors' bytes in order. */
export function encodeSafetensors(arrays: readonly NamedArray[], metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = Object.keys(metadata).length > 0 ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const a of arrays) {
    const n = a.shape.reduce((x, y) => x * y, 1);
    if (n !== a.data.length) throw new Error(`${a.name}: shape [${a.shape.join(', ')}] does not match ${a.data.length} values`);
    header[a.name] = { dtype: 'F32', shape: a.shape, data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded + offset, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  let at = 8 + padded;
  for (const a of arrays) {
    Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).copy(out, at);
    at += a.data.byteLength;
  }
  return out;
}

/** One array as NumPy .npy (little-endian float32, C order). */
export function encodeNpy(a: NamedArray): Buffer {
  const header = npyHeader(a.shape);
  return Buffer.concat([header, Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)]);
}
