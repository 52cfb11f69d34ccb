/**
 * safetensors: an 8-byte little-endian header length, a JSON header `{key: {dtype, shape, data_offsets}}`
 * (+ optional `__metadata__`), then the raw tensor bytes. Read lazily, one tensor at a time.
 */
import type { FileHandle } from 'node:fs/promises';
import type { TensorEntry, WeightSource } from './types.js';
import { toFloat32 } from '../core/dtype.js';
import { openRegularFile, readExactly, readInto } from '../core/fileio.js';
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
    const handle = await openRegularFile(path);
    try {
      const { size } = await handle.stat();
      const headerLen = checkHeaderLength(path, size, await readExactly(handle, path, 0, Math.min(8, size)));
      const { entries, metadata } = parseSafetensorsHeader(path, size, await readExactly(handle, path, 8, headerLen));
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
