/**
 * safetensors: an 8-byte little-endian header length, a JSON header `{key: {dtype, shape, data_offsets}}`
 * (+ optional `__metadata__`), then the raw tensor bytes. Read lazily, one tensor at a time.
 */
import type { FileHandle } from 'node:fs/promises';
import { BYTES_PER_ELEMENT, type StorageDType, type TensorEntry, type WeightSource } from './types.js';
import { toFloat32 } from '../core/dtype.js';
import { openRegularFile, readExactly, readInto } from '../core/fileio.js';
import { shapeSize } from '../core/tensor.js';

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
      const lenBuf = Buffer.alloc(8);
      await handle.read(lenBuf, 0, 8, 0);
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
        fail(`header length ${headerLen} does not fit in a file of ${size} bytes`);
      }
      const headerBuf = Buffer.alloc(headerLen);
      await handle.read(headerBuf, 0, headerLen, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(headerBuf.toString('utf8')) as Record<string, unknown>;
      } catch (e) {
        return fail(`header is not JSON (${(e as Error).message})`);
      }
      const dataStart = 8 + headerLen;
      const entries = new Map<string, TensorEntry>();
      let metadata: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(header)) {
        if (key === '__metadata__') {
          metadata = (value ?? {}) as Record<string, unknown>;
          continue;
        }
        const v = value as { dtype?: string; shape?: unknown; data_offsets?: unknown };
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
        entries.set(key, { key, dtype, shape, extent: { path, offset: dataStart + offsets[0], length: expected } });
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
