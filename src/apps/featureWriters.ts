/**
 * Writers for embeddings, chosen by the output's extension, each taking one image's features at a time:
 * - `.npy`: float32 little-endian, format v1.0, shape [n, D] (or [n, N, D] for patch tokens of one grid).
 *   Streamed: the header is reserved up front and rewritten with the final n at the end.
 * - `.safetensors`: one tensor `embeddings` [n, D], or for patch tokens one tensor per image
 *   `patch_tokens.<i>` [N_i, D] (grids may differ); metadata `paths` (JSON list, index i = row / tensor i),
 *   `pool`, and for patch tokens `grids`. Features are spooled to a temporary file, so memory holds one
 *   tensor at a time while writing.
 * - `.jsonl`: one line `{"path", "embedding": [...]}` per image (`"grid"` and nested rows for patch tokens),
 *   written as it comes. Numbers are the shortest decimals that read back as the same float32.
 * Files other than .jsonl appear only when complete (written beside the target, then renamed).
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { createWriteStream, type WriteStream } from 'node:fs';
import { extname } from 'node:path';
import type { Tensor } from '../core/tensor.js';
import { npyHeader } from '../formats/npy.js';
import { writeSafetensors } from '../formats/safetensorsWriter.js';
import type { TensorItem } from '../formats/tensorItem.js';
import { readExactly, writeFully } from '../core/fileio.js';

export interface FeatureRecord {
  path: string;
  /** [D] for pooled features, [N, D] for patch tokens. */
  embedding: Tensor<'float32'>;
  grid: [number, number];
}

export interface FeatureWriter {
  readonly path: string;
  add(record: FeatureRecord): Promise<void>;
  /** Finishes the file; returns how many records it holds. */
  close(): Promise<number>;
  /** Removes whatever was written. */
  abort(): Promise<void>;
}

export interface FeatureWriterOptions {
  /** Free-form metadata (safetensors only), e.g. the model and pool. */
  metadata?: Record<string, string>;
}

export const FEATURE_FORMATS = ['.safetensors', '.npy', '.jsonl'] as const;

export async function openFeatureWriter(path: string, opts: FeatureWriterOptions = {}): Promise<FeatureWriter> {
  switch (extname(path).toLowerCase()) {
    case '.npy':
      return NpyWriter.open(path);
    case '.safetensors':
      return SafetensorsFeatureWriter.open(path, opts.metadata ?? {});
    case '.jsonl':
      return JsonlWriter.open(path);
    default:
      throw new Error(`${path}: unknown output format; use one of ${FEATURE_FORMATS.join(', ')}`);
  }
}

function bytesOf(t: Tensor<'float32'>): Uint8Array {
  // Float32Array is little-endian on every platform Node runs on.
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function tempPath(path: string): string {
  return `${path}.partial-${process.pid}`;
}

/** Room for any shape's digits; the header is rewritten in place once n is known. */
const NPY_HEADER_BYTES = 128;

class NpyWriter implements FeatureWriter {
  private n = 0;
  private rowShape: readonly number[] | undefined;
  private offset = NPY_HEADER_BYTES;

  private constructor(
    readonly path: string,
    private readonly temp: string,
    private readonly handle: FileHandle,
  ) {}

  static async open(path: string): Promise<NpyWriter> {
    const temp = tempPath(path);
    return new NpyWriter(path, temp, await open(temp, 'w'));
  }

  async add(r: FeatureRecord): Promise<void> {
    if (!this.rowShape) this.rowShape = r.embedding.shape;
    else if (this.rowShape.join() !== r.embedding.shape.join()) {
      throw new Error(
        `${this.path}: ${r.path} has features of shape [${r.embedding.shape.join(', ')}], the earlier ones [${this.rowShape.join(', ')}]; ` +
          '.npy holds one array, use .safetensors for patch tokens of different grids',
      );
    }
    const bytes = bytesOf(r.embedding);
    await writeFully(this.handle, bytes, this.offset);
    this.offset += bytes.length;
    this.n++;
  }

  async close(): Promise<number> {
    try {
      await writeFully(this.handle, npyHeader([this.n, ...(this.rowShape ?? [])], NPY_HEADER_BYTES), 0);
    } finally {
      await this.handle.close();
    }
    await rename(this.temp, this.path);
    return this.n;
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.temp, { force: true });
  }
}

class SafetensorsFeatureWriter implements FeatureWriter {
  private readonly records: { path: string; shape: readonly number[]; grid: [number, number]; offset: number; length: number }[] = [];
  private offset = 0;

  private constructor(
    readonly path: string,
    private readonly spool: string,
    private readonly handle: FileHandle,
    private readonly metadata: Record<string, string>,
  ) {}

  static async open(path: string, metadata: Record<string, string>): Promise<SafetensorsFeatureWriter> {
    const spool = `${tempPath(path)}.spool`;
    return new SafetensorsFeatureWriter(path, spool, await open(spool, 'w+'), metadata);
  }

  private get patch(): boolean {
    return this.records.some((r) => r.shape.length === 2);
  }

  async add(r: FeatureRecord): Promise<void> {
    const first = this.records[0];
    if (first && (first.shape.length !== r.embedding.shape.length || (r.embedding.rank === 1 && first.shape[0] !== r.embedding.shape[0]))) {
      throw new Error(`${this.path}: ${r.path} has features of shape [${r.embedding.shape.join(', ')}], the earlier ones [${first.shape.join(', ')}]`);
    }
    const bytes = bytesOf(r.embedding);
    await writeFully(this.handle, bytes, this.offset);
    this.records.push({ path: r.path, shape: r.embedding.shape, grid: r.grid, offset: this.offset, length: bytes.length });
    this.offset += bytes.length;
  }

  async close(): Promise<number> {
    try {
      const metadata: Record<string, string> = { ...this.metadata, paths: JSON.stringify(this.records.map((r) => r.path)) };
      let items: TensorItem[];
      if (this.patch) {
        metadata['grids'] = JSON.stringify(this.records.map((r) => r.grid));
        items = this.records.map((r, i) => ({ key: `patch_tokens.${i}`, dtype: 'F32', shape: r.shape, data: () => readExactly(this.handle, this.spool, r.offset, r.length) }));
      } else {
        const width = this.records[0]?.shape[0] ?? 0;
        items = [{ key: 'embeddings', dtype: 'F32', shape: [this.records.length, width], data: () => readExactly(this.handle, this.spool, 0, this.offset) }];
      }
      await writeSafetensors(this.path, items, metadata);
    } finally {
      await this.handle.close();
      await rm(this.spool, { force: true });
    }
    return this.records.length;
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.spool, { force: true });
  }
}

/** The shortest decimal that rounds back to the same float32 (JSON has no float32, and 17 digits bloat it). */
export function float32ToJson(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`cannot write ${v} to JSON`);
  for (let p = 1; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(Number(v.toPrecision(9)));
}

function rowJson(data: Float32Array, start: number, end: number): string {
  const parts: string[] = [];
  for (let i = start; i < end; i++) parts.push(float32ToJson(data[i]!));
  return `[${parts.join(',')}]`;
}

class JsonlWriter implements FeatureWriter {
  private n = 0;

  private constructor(
    readonly path: string,
    private readonly stream: WriteStream,
  ) {}

  static async open(path: string): Promise<JsonlWriter> {
    const stream = createWriteStream(path);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    return new JsonlWriter(path, stream);
  }

  async add(r: FeatureRecord): Promise<void> {
    const e = r.embedding;
    let embedding: string;
    if (e.rank === 1) {
      embedding = rowJson(e.data, 0, e.size);
    } else {
      const D = e.shape[1]!;
      const rows: string[] = [];
      for (let n = 0; n < e.shape[0]!; n++) rows.push(rowJson(e.data, n * D, (n + 1) * D));
      embedding = `[${rows.join(',')}]`;
    }
    const grid = e.rank === 2 ? `,"grid":${JSON.stringify(r.grid)}` : '';
    const line = `{"path":${JSON.stringify(r.path)}${grid},"embedding":${embedding}}\n`;
    // Respect back-pressure so a long run does not queue every line in memory.
    if (!this.stream.write(line)) await new Promise<void>((resolve) => this.stream.once('drain', () => resolve()));
    this.n++;
  }

  async close(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end(() => resolve());
    });
    return this.n;
  }

  async abort(): Promise<void> {
    await new Promise<void>((resolve) => this.stream.end(() => resolve()));
    await rm(this.path, { force: true });
  }
}
