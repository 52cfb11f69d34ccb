/**
 * safetensors: an 8-byte little-endian header length, a JSON header `{key: {dtype, shape, data_offsets}}`
 * (+ optional `__metadata__`), then the raw tensor bytes. Read lazily, one tensor at a time.
 */
import type { FileHandle } from 'node:fs/promises';
import { BYTES_PER_ELEMENT, type StorageDType, type TensorEntry, type WeightSource } from './types.js';
import { toFloat32 } from '../core/dtype.js';
import { openRegularFile, readExactly, readInto } from '../core/fileio.js';
import { short } from '../core/text.js';

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export class SafetensorsFile implements WeightSource {
  readonly format = 'safetensors' as const;
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly entries: Map<string, TensorEntry>,
    readonly metadata: Record<string, unknown>,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    const handle = await openRegularFile(path);
    try {
      const { size } = await handle.stat();
      const fail = (why: string): never => {
        throw new Error(`${path}: not a valid safetensors file: ${why}`);
      };
      if (size < 8) fail(`file is ${size} bytes, shorter than the 8-byte header length`);
      const headerLenBig = Buffer.from(await readExactly(handle, path, 0, 8)).readBigUInt64LE(0);
      if (headerLenBig > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLenBig} is over the format's limit of ${MAX_HEADER_BYTES} bytes`);
      const headerLen = Number(headerLenBig);
      if (8 + headerLen > size) fail(`header length ${headerLen} does not fit in a file of ${size} bytes (truncated?)`);
      const headerBuf = Buffer.from(await readExactly(handle, path, 8, headerLen));
      let header: unknown;
      try {
        header = JSON.parse(headerBuf.toString('utf8'));
      } catch (e) {
        // The parser's message quotes the offending text; only its position is kept.
        const at = /position (\d+)/.exec((e as Error).message)?.[1];
        return fail(`header is not JSON${at ? ` (syntax error at byte ${at})` : ''}`);
      }
      if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
      const dataStart = 8 + headerLen;
      const dataSize = size - dataStart;
      const entries = new Map<string, TensorEntry>();
      const spans: { begin: number; end: number; key: string }[] = [];
      let metadata: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
        const name = short(key);
        if (key === '__metadata__') {
          if (value === null || value === undefined) continue;
          if (typeof value !== 'object' || Array.isArray(value)) fail(`'__metadata__' is not an object`);
          for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
            if (typeof v !== 'string') fail(`'__metadata__' entry '${short(k)}' is not a string`);
          }
          metadata = value as Record<string, unknown>;
          continue;
        }
        if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`tensor '${name}' is described by ${value === null ? 'null' : `a ${Array.isArray(value) ? 'list' : typeof value}`}, not an object`);
        const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
        if (typeof v.dtype !== 'string' || !Object.hasOwn(BYTES_PER_ELEMENT, v.dtype)) {
          fail(`tensor '${name}' has unsupported dtype ${typeof v.dtype === 'string' ? `'${short(v.dtype)}'` : String(v.dtype === undefined ? 'missing' : typeof v.dtype)}`);
        }
        const dtype = v.dtype as StorageDType;
        if (!Array.isArray(v.shape) || v.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
          fail(`tensor '${name}' has an invalid shape (dimensions must be non-negative integers)`);
        }
        const shape = v.shape as number[];
        const offsets = v.data_offsets;
        if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
          fail(`tensor '${name}' has invalid data_offsets (two non-negative integers expected)`);
        }
        const [begin, end] = offsets as [number, number];
        if (begin > end) fail(`tensor '${name}' has data_offsets [${begin}, ${end}] that end before they begin`);
        if (end > dataSize) fail(`tensor '${name}' ends at byte ${end} of the data section, which has ${dataSize} bytes (truncated?)`);
        const expected = shape.reduce((a, d) => a * BigInt(d), 1n) * BigInt(BYTES_PER_ELEMENT[dtype]);
        if (BigInt(end - begin) !== expected) {
          fail(`tensor '${name}' ${dtype}[${shape.join(', ')}] needs ${expected} bytes but data_offsets span ${end - begin}`);
        }
        spans.push({ begin, end, key: name });
        entries.set(key, { key, dtype, shape, extent: { path, offset: dataStart + begin, length: end - begin } });
      }
      spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
      for (let i = 1; i < spans.length; i++) {
        const prev = spans[i - 1]!;
        const cur = spans[i]!;
        if (cur.begin < prev.end) fail(`tensors '${prev.key}' and '${cur.key}' overlap in the data section ([${prev.begin}, ${prev.end}) and [${cur.begin}, ${cur.end}))`);
      }
      return new SafetensorsFile(path, handle, entries, metadata);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  entry(key: string): TensorEntry | undefined {
    return this.entries.get(key);
  }

  private need(key: string): TensorEntry {
    const e = this.entries.get(key);
    if (!e) throw new Error(`${this.path}: no tensor named '${key}'`);
    return e;
  }

  async readRaw(key: string): Promise<Uint8Array> {
    const { extent } = this.need(key);
    return readExactly(this.handle, this.path, extent!.offset, extent!.length);
  }

  /** The tensor's bytes as stored, into `target` (which must have exactly their length): no extra copy. */
  async readRawInto(key: string, target: Uint8Array): Promise<void> {
    const { extent } = this.need(key);
    if (target.length !== extent!.length) throw new Error(`${this.path}: '${key}' has ${extent!.length} bytes, the target ${target.length}`);
    await readInto(this.handle, this.path, extent!.offset, target);
  }

  async readFloat32(key: string): Promise<Float32Array> {
    const e = this.need(key);
    return toFloat32(await this.readRaw(key), e.dtype);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
