/**
 * A shared image collection: one LanceDB table that many writers (queue workers, shards) fill. Each row is
 * keyed by its image id — SHA-256 of the file's content hash and its path — and written by an idempotent
 * upsert, so an image delivered twice (a retried job, a worker killed after writing) is stored once.
 * The other columns are those of an index row (`retrieval/indexImages.ts`) plus the content hash, so
 * `dinov2 search` reads a collection like an index.
 */
import { createHash } from 'node:crypto';
import * as lancedb from '@lancedb/lancedb';
import { Field, Schema, Utf8 } from 'apache-arrow';
import { indexSchema, tableDim, type IndexRow } from '../retrieval/indexImages.js';
import { connectDb } from './storage.js';

/** An index row plus its image id and content hash. */
export interface CollectionRow extends IndexRow {
  id: string;
  sha256: string;
}

/** The index schema (`indexSchema`) with `id` first and `sha256` after the path. */
export function collectionSchema(dim: number): Schema {
  const [path, ...rest] = indexSchema(dim).fields;
  return new Schema([new Field('id', new Utf8(), false), path!, new Field('sha256', new Utf8(), false), ...rest]);
}

/** SHA-256 (hex) of a file's bytes. */
export function contentHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The image id: SHA-256 of "<content sha256>\0<path>", 32 hex digits. */
export function imageId(sha256: string, path: string): string {
  return createHash('sha256').update(`${sha256}\0${path}`).digest('hex').slice(0, 32);
}

/**
 * Opens the collection table, creating it when missing. Several writers may race to create it: the loser
 * of the race opens the winner's table. Its embedding width must be `dim`.
 */
export async function openCollection(db: string, table: string, dim: number): Promise<lancedb.Table> {
  const conn = await connectDb(db);
  // Open first: object stores may not list tables the way a folder does.
  let t: lancedb.Table;
  try {
    t = await conn.openTable(table);
  } catch {
    try {
      t = await conn.createEmptyTable(table, collectionSchema(dim), { existOk: true });
    } catch {
      t = await conn.openTable(table);
    }
  }
  await ensurePrimaryKey(t);
  const names = (await t.schema()).fields.map((f) => f.name);
  if (!names.includes('id')) throw new Error(`${db}: table '${table}' has no 'id' column; it is an index written by "dinov2 index", not a collection — use another --table`);
  const have = await tableDim(t);
  if (have !== dim) throw new Error(`${db}: table '${table}' holds ${have}-dimensional embeddings, the model gives ${dim}; use another --db or --table`);
  return t;
}

/**
 * Records `id` as the table's (unenforced) primary key. With it, LanceDB checks concurrent upserts for
 * inserted keys that collide: of two writers inserting the same new id at once, the second commit fails
 * with a retryable conflict instead of adding a duplicate row (`upsert.ts` retries it).
 */
export async function ensurePrimaryKey(t: lancedb.Table): Promise<void> {
  const schema = await t.schema();
  const field = schema.fields.find((f) => f.name === 'id');
  const meta = [...(field?.metadata ?? new Map<string, string>()).entries(), ...(schema.metadata ?? new Map<string, string>()).entries()];
  if (meta.some(([k]) => /primary/i.test(k))) return;
  try {
    await t.setUnenforcedPrimaryKey('id');
  } catch (e) {
    // Another writer set it first (it cannot be changed once set).
    await t.checkoutLatest();
    const again = (await t.schema()).fields.find((f) => f.name === 'id');
    if (![...(again?.metadata ?? new Map<string, string>()).keys()].some((k) => /primary/i.test(k))) throw e;
  }
}

export function rowForLance(r: CollectionRow): Record<string, unknown> {
  return { ...r, embedding: Array.from(r.embedding) };
}
