/**
 * The safetensors layout without I/O: the header-length check, the JSON header parsed and validated into
 * tensor entries, and a WeightSource over any ByteSource. SafetensorsFile (Node file handles) and the
 * browser loaders (File, URL, ArrayBuffer) share this code.
 */
import { BYTES_PER_ELEMENT, type StorageDType, type TensorEntry, type WeightSource } from './types.js';
import { toFloat32 } from '../core/dtype.js';
import { short } from '../core/text.js';
import type { ByteSource } from './byteSource.js';

export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function invalid(name: string, why: string): never {
  throw new Error(`${name}: not a valid safetensors file: ${why}`);
}

/** The header length stored in the first 8 bytes (`first8`), checked against the format's limit and the size. */
export function checkHeaderLength(name: string, size: number, first8: Uint8Array): number {
  if (size < 8 || first8.length < 8) invalid(name, `file is ${size} bytes, shorter than the 8-byte header length`);
  const headerLenBig = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (headerLenBig > BigInt(MAX_HEADER_BYTES)) invalid(name, `header length ${headerLenBig} is over the format's limit of ${MAX_HEADER_BYTES} bytes`);
  const headerLen = Number(headerLenBig);
  if (8 + headerLen > size) invalid(name, `header length ${headerLen} does not fit in a file of ${size} bytes (truncated?)`);
  return headerLen;
}

/**
 * Parses and checks the JSON header (`headerBytes`, after the 8-byte length) of a file of `size` bytes, per the
 * format: a JSON object; `__metadata__` a string-to-string object; every tensor an object with a known dtype,
 * an integer shape and two integer data offsets, begin ≤ end, inside the data section, spanning exactly
 * dtype size × element count, and no two tensors overlapping. Messages name the file and the key, never
 * quote the header's text.
 */
export function parseSafetensorsHeader(
  name: string,
  size: number,
  headerBytes: Uint8Array,
): { entries: Map<string, TensorEntry>; metadata: Record<string, unknown> } {
  const fail = (why: string): never => invalid(name, why);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8').decode(headerBytes));
  } catch (e) {
    // The parser's message quotes the offending text; only its position is kept.
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    return fail(`header is not JSON${at ? ` (syntax error at byte ${at})` : ''}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerBytes.length;
  const dataSize = size - dataStart;
  const entries = new Map<string, TensorEntry>();
  const spans: { begin: number; end: number; key: string }[] = [];
  let metadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    const label = short(key);
    if (key === '__metadata__') {
      if (value === null || value === undefined) continue;
      if (typeof value !== 'object' || Array.isArray(value)) fail(`'__metadata__' is not an object`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`'__metadata__' entry '${short(k)}' is not a string`);
      }
      metadata = value as Record<string, unknown>;
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      fail(`tensor '${label}' is described by ${value === null ? 'null' : `a ${Array.isArray(value) ? 'list' : typeof value}`}, not an object`);
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof v.dtype !== 'string' || !Object.hasOwn(BYTES_PER_ELEMENT, v.dtype)) {
      fail(`tensor '${label}' has unsupported dtype ${typeof v.dtype === 'string' ? `'${short(v.dtype)}'` : v.dtype === undefined ? 'missing' : typeof v.dtype}`);
    }
    const dtype = v.dtype as StorageDType;
    if (!Array.isArray(v.shape) || v.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(`tensor '${label}' has an invalid shape (dimensions must be non-negative integers)`);
    }
    const shape = v.shape as number[];
    const offsets = v.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor '${label}' has invalid data_offsets (two non-negative integers expected)`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`tensor '${label}' has data_offsets [${begin}, ${end}] that end before they begin`);
    if (end > dataSize) fail(`tensor '${label}' ends at byte ${end} of the data section, which has ${dataSize} bytes (truncated?)`);
    const expected = shape.reduce((a, d) => a * BigInt(d), 1n) * BigInt(BYTES_PER_ELEMENT[dtype]);
    if (BigInt(end - begin) !== expected) {
      fail(`tensor '${label}' ${dtype}[${shape.join(', ')}] needs ${expected} bytes but data_offsets span ${end - begin}`);
    }
    spans.push({ begin, end, key: label });
    entries.set(key, { key, dtype, shape, extent: { path: name, offset: dataStart + begin, length: end - begin } });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    if (cur.begin < prev.end) fail(`tensors '${prev.key}' and '${cur.key}' overlap in the data section ([${prev.begin}, ${prev.end}) and [${cur.begin}, ${cur.end}))`);
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
