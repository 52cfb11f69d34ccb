/**
 * safetensors: an 8-byte little-endian header length, a JSON header `{key: {dtype, shape, data_offsets}}`
 * (+ optional `__metadata__`), then the raw tensor bytes. Read lazily, one tensor at a time.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { TensorEntry, WeightSource } from './types.js';
import { toFloat32 } from '../core/dtype.js';
import { readExactly, readInto } from '../core/fileio.js';
import { checkHeaderLength, parseSafetensorsHeader } from './safetensorsHeader.js';

export { SafetensorsSource, parseSafetensorsHeader } from './safetensorsHeader.js';

export class SafetensorsFile implements WeightSource {
  readonly format = 'safetensors' as const;
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly entries: Map<string, TensorEntry>,
    readonly metadata: Record<string, unknown>,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size < 8) throw new Error(`${path}: not a valid safetensors file: file is ${size} bytes, shorter than the 8-byte header length`);
      const lenBuf = Buffer.alloc(8);
      await handle.read(lenBuf, 0, 8, 0);
      const headerLen = checkHeaderLength(path, size, lenBuf);
      const headerBuf = Buffer.alloc(headerLen);
      await handle.read(headerBuf, 0, headerLen, 8);
      const { entries, metadata } = parseSafetensorsHeader(path, size, headerBuf);
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
