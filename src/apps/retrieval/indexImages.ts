/**
 * An on-disk image index in LanceDB (embedded: a folder, no server): one row per image with its path, the
 * file's size and mtime, the model that embedded it, the pooling and image size, and the L2-normalised CLS
 * embedding. Search is cosine similarity on those embeddings (`search.ts`).
 *
 * Indexing is incremental. A file whose row has the same path, size, mtime, model identity, pooling and
 * image size is skipped without being decoded or run through the backbone; new files are embedded and added;
 * changed files are embedded again and their rows replaced; rows whose file no longer exists, or no longer
 * decodes, are removed. The model identity is the checkpoint's resolved path, size and mtime plus the
 * architecture (`modelIdentity`), hashed, so swapping weights re-embeds instead of mixing spaces.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { Field, FixedSizeList, Float32, Float64, Int32, Schema, Utf8 } from 'apache-arrow';
import { expandInputs } from '../../data/inputs.js';
import { faultPoint } from '../../core/faultPoint.js';
import { embedStream } from '../embed.js';
import { modelIdentity } from '../../eval/featureCache.js';
import { l2Normalize } from '../../eval/knn.js';
import type { Dinov2 } from '../../models/dinov2.js';
import { selectShard, type ShardSpec } from '../scale/shard.js';
import { connectDb } from '../scale/storage.js';

export const DEFAULT_TABLE = 'images';
/** What the index stores per image: the final-norm CLS token, L2-normalised. */
export const INDEX_POOL = 'cls';

export interface IndexRow {
  path: string;
  size: number;
  mtime: number;
  model: string;
  model_key: string;
  pool: string;
  image_size: number;
  embedding: Float32Array;
}

export function indexSchema(dim: number): Schema {
  return new Schema([
    new Field('path', new Utf8(), false),
    new Field('size', new Float64(), false),
    new Field('mtime', new Float64(), false),
    new Field('model', new Utf8(), false),
    new Field('model_key', new Utf8(), false),
    new Field('pool', new Utf8(), false),
    new Field('image_size', new Int32(), false),
    new Field('embedding', new FixedSizeList(dim, new Field('item', new Float32(), true)), false),
  ]);
}

/** A short hash of `modelIdentity`: what the rows compare to decide whether an embedding is current. */
export async function modelKey(model: Dinov2): Promise<string> {
  return createHash('sha256').update(await modelIdentity(model)).digest('hex').slice(0, 24);
}

/** SQL string literal for LanceDB filters. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** The embedding width of an existing table (its FixedSizeList size). */
export async function tableDim(table: lancedb.Table): Promise<number> {
  const schema = await table.schema();
  const field = schema.fields.find((f) => f.name === 'embedding');
  const type = field?.type as FixedSizeList | undefined;
  if (!type || typeof type.listSize !== 'number') throw new Error(`table '${table.name}' has no fixed-size 'embedding' column; not an image index`);
  return type.listSize;
}

export async function openIndexTable(db: string, table = DEFAULT_TABLE): Promise<lancedb.Table | null> {
  // Connecting would create the folder: a mistyped --db must not leave an empty index behind (URIs are remote).
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(db) && !(await stat(db).then((s) => s.isDirectory(), () => false))) return null;
  const conn = await connectDb(db);
  return (await conn.tableNames()).includes(table) ? conn.openTable(table) : null;
}

/** Deletes rows by path, a few hundred per statement. */
async function deletePaths(table: lancedb.Table, paths: readonly string[]): Promise<void> {
  for (let i = 0; i < paths.length; i += 500) {
    await table.delete(`path IN (${paths.slice(i, i + 500).map(sqlString).join(', ')})`);
  }
}

/** L2-normalised copy (embeddings are stored unit-length so that dot product = cosine). */
export function unitVector(v: Float32Array): Float32Array {
  return l2Normalize(v, v.length);
}

export interface IndexOptions {
  /** LanceDB folder (created if missing). */
  db: string;
  model: Dinov2;
  /** The model as the user named it (hub name or path), stored for `search` to reload it. */
  modelName?: string;
  table?: string;
  /** Eval-transform crop side (default 224). */
  size?: number;
  /** Images per backbone call (default 8). */
  batch?: number;
  /** Drop the table first (e.g. to switch to a model of another width). */
  rebuild?: boolean;
  /**
   * Only this shard of the inputs (`scale/shard.ts`): N machines index disjoint parts into their own
   * folders, `mergeIndexes` combines them. Rows of files outside the shard are left alone.
   */
  shard?: ShardSpec;
  onProgress?: (done: number, total: number) => void;
  onFailure?: (path: string, reason: string) => void;
}

export interface IndexReport {
  db: string;
  table: string;
  /** Image files found under the inputs. */
  files: number;
  added: number;
  updated: number;
  unchanged: number;
  removed: number;
  failed: { path: string; reason: string }[];
  /** Inputs that matched nothing. */
  problems: { path: string; reason: string }[];
  rows: number;
  seconds: number;
}

/** Indexes the image files under `inputs` (files, folders, globs); see the module comment. */
export async function indexImages(inputs: readonly string[], opts: IndexOptions): Promise<IndexReport> {
  const started = performance.now();
  const tableName = opts.table ?? DEFAULT_TABLE;
  const size = opts.size ?? 224;
  const { files: found, problems } = await expandInputs(inputs);
  const files = [...new Set((opts.shard ? selectShard(found, opts.shard) : found).map((f) => resolve(f)))];
  const key = await modelKey(opts.model);
  // A checkpoint is recorded by its absolute path, so that `search` from another folder finds it.
  const given = opts.modelName ?? opts.model.name;
  const modelName = (await stat(given).then(() => true, () => false)) ? resolve(given) : given;
  const D = opts.model.embedDim;

  const conn = await connectDb(opts.db);
  if (opts.rebuild && (await conn.tableNames()).includes(tableName)) await conn.dropTable(tableName);
  const table = (await conn.tableNames()).includes(tableName) ? await conn.openTable(tableName) : await conn.createEmptyTable(tableName, indexSchema(D));
  const dim = await tableDim(table);
  if (dim !== D) {
    throw new Error(`${opts.db}: table '${tableName}' holds ${dim}-dimensional embeddings but ${modelName} gives ${D}; use another --db or --rebuild`);
  }

  // What is there: path → (size, mtime, model key, pooling, image size).
  const existing = new Map<string, { size: number; mtime: number; key: string; pool: string; imageSize: number }>();
  for (const r of await table.query().select(['path', 'size', 'mtime', 'model_key', 'pool', 'image_size']).toArray()) {
    existing.set(r.path as string, { size: r.size as number, mtime: r.mtime as number, key: r.model_key as string, pool: r.pool as string, imageSize: r.image_size as number });
  }

  const failed: { path: string; reason: string }[] = [];
  const todo: { path: string; size: number; mtime: number }[] = [];
  let unchanged = 0;
  for (const path of files) {
    let s;
    try {
      s = await stat(path);
    } catch (e) {
      failed.push({ path, reason: `cannot stat (${(e as Error).message})` });
      continue;
    }
    const row = existing.get(path);
    if (row && row.size === s.size && row.mtime === s.mtimeMs && row.key === key && row.pool === INDEX_POOL && row.imageSize === size) unchanged++;
    else todo.push({ path, size: s.size, mtime: s.mtimeMs });
  }

  // Rows whose file is gone.
  const gone: string[] = [];
  const listed = new Set(files);
  for (const path of existing.keys()) {
    if (listed.has(path)) continue;
    try {
      if (!(await stat(path)).isFile()) gone.push(path);
    } catch {
      gone.push(path);
    }
  }
  await deletePaths(table, gone);

  let added = 0;
  let updated = 0;
  let done = unchanged;
  opts.onProgress?.(done, files.length);
  const pending: IndexRow[] = [];
  // One atomic upsert per batch (a single new table version): a run killed at any moment leaves every
  // row either old or new, never missing (a delete followed by an add had a window with the row gone).
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const rows = pending.splice(0, pending.length);
    faultPoint('index:before-upsert');
    await table
      .mergeInsert('path')
      .whenMatchedUpdateAll()
      .whenNotMatchedInsertAll()
      .execute(rows.map((r) => ({ ...r, embedding: Array.from(r.embedding) })));
    faultPoint('index:upserted');
  };
  const stale: string[] = [];
  for await (const e of embedStream(todo.map((t) => t.path), { model: opts.model, pool: INDEX_POOL, size, batch: opts.batch ?? 8 })) {
    const t = todo[e.index]!;
    if (e.ok) {
      pending.push({ path: t.path, size: t.size, mtime: t.mtime, model: modelName, model_key: key, pool: INDEX_POOL, image_size: size, embedding: unitVector(e.embedding.data) });
      if (existing.has(t.path)) updated++;
      else added++;
      if (pending.length >= 256) await flush();
    } else {
      failed.push({ path: t.path, reason: e.reason });
      opts.onFailure?.(t.path, e.reason);
      if (existing.has(t.path)) stale.push(t.path);
    }
    opts.onProgress?.(++done, files.length);
  }
  await flush();
  await deletePaths(table, stale);
  // Each add/delete is a new table version; compacting keeps scans fast after many incremental runs.
  if (added + updated + gone.length + stale.length > 0) await table.optimize();
  return {
    db: opts.db,
    table: tableName,
    files: files.length,
    added,
    updated,
    unchanged,
    removed: gone.length + stale.length,
    failed,
    problems,
    rows: await table.countRows(),
    seconds: (performance.now() - started) / 1000,
  };
}
