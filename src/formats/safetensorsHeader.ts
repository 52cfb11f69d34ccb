/**
 * The safetensors layout without I/O: the header-length check, the JSON header parsed and validated into
 * tensor entries, and a WeightSource over any ByteSource. SafetensorsFile (Node file handles) and the
 * browser loaders (File, URL, ArrayBuffer) share this code.
 */
import { BYTES_PER_ELEMENT, type StorageDType, type TensorEntry, type WeightSource } from './types.js';
import { toFloat32 } from '../core/dtype.js';
import { shapeSize } from '../core/tensor.js';
import type { ByteSource } from './byteSource.js';

export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function invalid(name: string, why: string): never {
  throw new Error(`${name}: not a valid safetensors file: ${why}`);
}

/** The header length stored in the first 8 bytes (`first8`), checked against the total size. */
export function checkHeaderLength(name: string, size: number, first8: Uint8Array): number {
  if (size < 8 || first8.length < 8) invalid(name, `file is ${size} bytes, shorter than the 8-byte header length`);
  const headerLen = Number(new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) invalid(name, `header length ${headerLen} does not fit in a file of ${size} bytes`);
  return headerLen;
}

/** Parses and checks the JSON header (`headerBytes`, after the 8-byte length) of a file of `size` bytes. */
export function parseSafetensorsHeader(
  name: string,
  size: number,
  headerBytes: Uint8Array,
): { entries: Map<string, TensorEntry>; metadata: Record<string, unknown> } {
  const fail = (why: string): never => invalid(name, why);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8').decode(headerBytes)) as Record<string, unknown>;
  } catch (e) {
    return fail(`header is not JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerBytes.length;
  const entries = new Map<string, TensorEntry>();
  let metadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(header)) {
    if (key === '__metadata__') {
      metadata = (value ?? {}) as Record<string, unknown>;
      continue;
    }
    const v = (value ?? {}) as { dtype?: string; shape?: unknown; data_offsets?: unknown };
    const dtype = v.dtype as StorageDType;
    if (!(dtype in BYTES_PER_ELEMENT)) fail(`tensor '${key}' has unsupported dtype '${v.dtype}'`);
    if (!Array.isArray(v.shape) || v.shape.some((d) => !Number.isInteger(d) || d < 0)) {
      fail(`tensor '${key}' has an invalid shape ${JSON.stringify(v.shape)}`);
    }
    const shape = v.shape as number[];
    const offsets = v.data_offsets as [number, number];
    if (!Array.isArray(offsets) || offsets.length !== 2 || !(offsets[0] <= offsets[1])) {
      fail(`tensor '${key}' has invalid data_offsets ${JSON.stringify(v.data_offsets)}`);
    }
    const expected = shapeSize(shape) * BYTES_PER_ELEMENT[dtype];
    if (offsets[1] - offsets[0] !== expected) {
      fail(`tensor '${key}' ${dtype}[${shape.join(', ')}] needs ${expected} bytes but data_offsets span ${offsets[1] - offsets[0]}`);
    }
    if (dataStart + offsets[1] > size) {
      fail(`tensor '${key}' ends at byte ${dataStart + offsets[1]} but the file has ${size} bytes (truncated?)`);
    }
    entries.set(key, { key, dtype, shape, extent: { path: name, offset: dataStart + offsets[0], length: expected } });
  }
  return { entries, metadata };
}

/** A safetensors file read lazily from any ByteSource (one read per tensor). */
export class SafetensorsSource implements WeightSource {
  readonly format = 'safetensors' as const;
  private constructor(
    private readonly source: ByteSource,
    private readonly entries: Map<string, TensorEntry>,
    readonly metadata: Record<string, unknown>,
  ) {}

  static async open(source: ByteSource): Promise<SafetensorsSource> {
    if (source.size < 8) invalid(source.name, `file is ${source.size} bytes, shorter than the 8-byte header length`);
    const headerLen = checkHeaderLength(source.name, source.size, await source.read(0, 8));
    const { entries, metadata } = parseSafetensorsHeader(source.name, source.size, await source.read(8, headerLen));
    return new SafetensorsSource(source, entries, metadata);
  }

  get path(): string {
    return this.source.name;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  entry(key: string): TensorEntry | undefined {
    return this.entries.get(key);
  }

  async readRaw(key: string): Promise<Uint8Array> {
    const e = this.entries.get(key);
    if (!e) throw new Error(`${this.path}: no tensor named '${key}'`);
    return this.source.read(e.extent!.offset, e.extent!.length);
  }

  async readFloat32(key: string): Promise<Float32Array> {
    return toFloat32(await this.readRaw(key), this.entries.get(key)!.dtype);
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }
}
