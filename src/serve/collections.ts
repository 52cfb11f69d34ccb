/**
 * Image collections in LanceDB (one folder, one table per collection): rows of id, JSON metadata, the
 * L2-normalised CLS embedding and a small JPEG thumbnail (for the web app). A collection is bound to one
 * model and image size, recorded in `<name>.collection.json` (written atomically before the table exists).
 *
 * Durability: a write is acknowledged only after LanceDB has committed it (its manifest is on disk), so an
 * acknowledged write survives the server being killed. Adds are one merge-insert on `id` (adding an
 * existing id replaces it); writes to one collection are serialised within a process.
 *
 * Replicas: several servers may share one folder (NFS, EFS, …) or object-store URI (`s3://…`, through
 * apps/scale/storage.ts). Nothing is cached between requests — every request opens the table at its newest
 * version, and the configs are read from storage each time — so a write acknowledged by one replica is
 * seen by the next request to any other. Concurrent commits from different replicas are retried on
 * LanceDB's commit conflicts (apps/scale/upsert.ts); the merge-insert on `id` keeps each id once. On an
 * object store the configs are rows of the table `_dinov2_collections` instead of JSON files.
 */
import { open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { Binary, Field, FixedSizeList, Float32, Schema, Utf8 } from 'apache-arrow';
import { HttpError } from './errors.js';
import { sqlString } from '../apps/retrieval/indexImages.js';
import { connectDb, isObjectStoreUri } from '../apps/scale/storage.js';
import { isCommitConflict, upsertRows } from '../apps/scale/upsert.js';
import { ensurePrimaryKey } from '../apps/scale/collection.js';

/** The configs' table on an object store (collection names start with a letter or digit, so never clash). */
const CONFIG_TABLE = '_dinov2_collections';

/** Retries `fn` on LanceDB commit conflicts (another replica committed first). */
async function retryConflicts<T>(fn: () => Promise<T>, tries = 20): Promise<T> {
  let wait = 25;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= tries || !isCommitConflict(e)) throw e;
      await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random())));
      wait = Math.min(2000, wait * 2);
    }
  }
}

export const COLLECTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
export const IMAGE_ID = /^[^\u0000-\u001f]{1,256}$/;

export function checkCollectionName(name: string): void {
  if (!COLLECTION_NAME.test(name)) throw new HttpError(400, `invalid collection name '${name.slice(0, 80)}': use 1–63 letters, digits, '_' or '-', starting with a letter or digit`);
}

export interface CollectionConfig {
  name: string;
  model: string;
  size: number;
  dim: number;
  created: string;
}

export interface CollectionRow {
  id: string;
  metadata: Record<string, unknown>;
  embedding: Float32Array;
  thumbnail: Uint8Array;
}

export interface Hit {
  id: string;
  similarity: number;
  metadata: Record<string, unknown>;
}

function schema(dim: number): Schema {
  return new Schema([
    new Field('id', new Utf8(), false),
    new Field('metadata', new Utf8(), false),
    new Field('embedding', new FixedSizeList(dim, new Field('item', new Float32(), true)), false),
    new Field('thumbnail', new Binary(), false),
  ]);
}

/** Metadata filter: every key must equal the given value (strings, numbers, booleans). */
export function matches(metadata: Record<string, unknown>, filter: Record<string, unknown> | undefined): boolean {
  if (!filter) return true;
  return Object.entries(filter).every(([k, v]) => metadata[k] === v);
}

async function writeJsonDurably(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.partial-${process.pid}`;
  const h = await open(tmp, 'w');
  try {
    await h.writeFile(JSON.stringify(value, null, 2) + '\n');
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, path);
}

export class Collections {
  private conn: Promise<lancedb.Connection> | undefined;
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Collections whose table is known to have `id` as its primary key. */
  private readonly keyed = new Set<string>();

  constructor(readonly dir: string) {}

  private connection(): Promise<lancedb.Connection> {
    return (this.conn ??= connectDb(this.dir));
  }

  private get remote(): boolean {
    return isObjectStoreUri(this.dir);
  }

  /** The configs' table on an object store (created on first use, by whichever replica comes first). */
  private async configTable(): Promise<lancedb.Table> {
    const conn = await this.connection();
    const configSchema = new Schema([new Field('name', new Utf8(), false), new Field('config', new Utf8(), false)]);
    return conn.createEmptyTable(CONFIG_TABLE, configSchema, { mode: 'create', existOk: true });
  }

  private async readConfig(name: string): Promise<CollectionConfig | null> {
    if (!this.remote) {
      try {
        return JSON.parse(await readFile(this.configPath(name), 'utf8')) as CollectionConfig;
      } catch {
        return null;
      }
    }
    const [row] = await (await this.configTable()).query().where(`name = ${sqlString(name)}`).select(['config']).limit(1).toArray();
    return row ? (JSON.parse(row.config as string) as CollectionConfig) : null;
  }

  private async writeConfig(config: CollectionConfig): Promise<void> {
    if (!this.remote) return writeJsonDurably(this.configPath(config.name), config);
    await upsertRows(await this.configTable(), 'name', [{ name: config.name, config: JSON.stringify(config) }]);
  }

  private async removeConfig(name: string): Promise<void> {
    if (!this.remote) return unlink(this.configPath(name));
    const t = await this.configTable();
    await retryConflicts(() => t.delete(`name = ${sqlString(name)}`));
  }

  private configPath(name: string): string {
    return join(this.dir, `${name}.collection.json`);
  }

  /** Runs `fn` after every earlier write to `name` finished. */
  private exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.locks.set(name, next.catch(() => undefined));
    return next;
  }

  async config(name: string): Promise<CollectionConfig> {
    checkCollectionName(name);
    const config = await this.readConfig(name);
    if (!config) throw new HttpError(404, `no collection '${name}'`, {}, 'collection_not_found');
    return config;
  }

  async list(): Promise<CollectionConfig[]> {
    if (this.remote) {
      const rows = await (await this.configTable()).query().select(['config']).toArray();
      return rows.map((r) => JSON.parse(r.config as string) as CollectionConfig).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch {
      return [];
    }
    const names = files.filter((f) => f.endsWith('.collection.json')).map((f) => f.slice(0, -'.collection.json'.length));
    return Promise.all(names.sort().map((n) => this.config(n)));
  }

  private async table(name: string): Promise<lancedb.Table> {
    await this.config(name);
    const conn = await this.connection();
    try {
      return await conn.openTable(name);
    } catch {
      throw new HttpError(404, `no collection '${name}' (its table is missing)`, {}, 'collection_not_found');
    }
  }

  /** Creates `name` for model/size; an existing collection with the same model and size is returned as is. */
  async create(name: string, model: string, size: number, dim: number): Promise<{ config: CollectionConfig; created: boolean }> {
    checkCollectionName(name);
    return this.exclusive(name, async () => {
      const existing = await this.config(name).catch(() => null);
      if (existing) {
        if (existing.model !== model || existing.size !== size) {
          throw new HttpError(409, `collection '${name}' exists for model '${existing.model}' at size ${existing.size}`, {}, 'collection_exists');
        }
        return { config: existing, created: false };
      }
      const config: CollectionConfig = { name, model, size, dim, created: new Date().toISOString() };
      const conn = await this.connection();
      // Another replica may be creating the same collection right now: the table is created only if absent,
      // and when that replica's config is there by then, its collection is the one (same model and size).
      let t = await conn.createEmptyTable(name, schema(dim), { mode: 'create', existOk: true });
      const raced = await this.readConfig(name);
      if (raced) {
        if (raced.model !== model || raced.size !== size) throw new HttpError(409, `collection '${name}' exists for model '${raced.model}' at size ${raced.size}`, {}, 'collection_exists');
        return { config: raced, created: false };
      }
      // A table without a config is what a crashed create or drop left (rows are only added once the config
      // exists): it is replaced when it has rows or another embedding width.
      const width = ((await t.schema()).fields.find((f) => f.name === 'embedding')?.type as FixedSizeList | undefined)?.listSize;
      if (width !== dim || (await t.countRows()) > 0) {
        await conn.dropTable(name);
        t = await conn.createEmptyTable(name, schema(dim), { mode: 'create', existOk: true });
      }
      await ensurePrimaryKey(t);
      await this.writeConfig(config);
      return { config, created: true };
    });
  }

  async count(name: string): Promise<number> {
    return (await this.table(name)).countRows();
  }

  /** Adds (or replaces, by id) rows in one commit. */
  async add(name: string, rows: readonly CollectionRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.exclusive(name, async () => {
      const t = await this.table(name);
      const data = rows.map((r) => ({ id: r.id, metadata: JSON.stringify(r.metadata), embedding: Array.from(r.embedding), thumbnail: Buffer.from(r.thumbnail) }));
      // `id` is the table's primary key, so two replicas inserting the same new id at once conflict instead
      // of both inserting it; the conflict is retried (apps/scale/upsert.ts) and the merge on id keeps it once.
      if (!this.keyed.has(name)) {
        await ensurePrimaryKey(t); // collections created before the key was recorded
        this.keyed.add(name);
      }
      await upsertRows(t, 'id', data);
    });
  }

  async embeddingOf(name: string, id: string): Promise<Float32Array> {
    const t = await this.table(name);
    const [row] = await t.query().where(`id = ${sqlString(id)}`).select(['embedding']).limit(1).toArray();
    if (!row) throw new HttpError(404, `collection '${name}' has no image '${id}'`, {}, 'image_not_found');
    return Float32Array.from(row.embedding as ArrayLike<number>);
  }

  async thumbnail(name: string, id: string): Promise<Uint8Array> {
    const t = await this.table(name);
    const [row] = await t.query().where(`id = ${sqlString(id)}`).select(['thumbnail']).limit(1).toArray();
    if (!row) throw new HttpError(404, `collection '${name}' has no image '${id}'`, {}, 'image_not_found');
    return row.thumbnail as Uint8Array;
  }

  async images(name: string, offset: number, limit: number): Promise<{ id: string; metadata: Record<string, unknown> }[]> {
    const t = await this.table(name);
    const rows = await t.query().select(['id', 'metadata']).toArray();
    return rows
      .map((r) => ({ id: r.id as string, metadata: JSON.parse(r.metadata as string) as Record<string, unknown> }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(offset, offset + limit);
  }

  /** Every row's id and embedding (for duplicates and curation), in id order. */
  async all(name: string): Promise<{ ids: string[]; embeddings: Float32Array; dim: number }> {
    const { dim } = await this.config(name);
    const t = await this.table(name);
    const rows = (await t.query().select(['id', 'embedding']).toArray()).sort((a, b) => ((a.id as string) < (b.id as string) ? -1 : 1));
    const embeddings = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => embeddings.set(Float32Array.from(r.embedding as ArrayLike<number>), i * dim));
    return { ids: rows.map((r) => r.id as string), embeddings, dim };
  }

  /** The k rows nearest to the unit vector q (cosine), optionally only those whose metadata matches `filter`. */
  async search(name: string, q: Float32Array, k: number, filter?: Record<string, unknown>, exclude?: string): Promise<Hit[]> {
    const t = await this.table(name);
    const hasFilter = filter !== undefined && Object.keys(filter).length > 0;
    // With a metadata filter the search is exhaustive (every row ranked, then filtered), so it stays exact.
    const limit = hasFilter ? await t.countRows() : k + (exclude !== undefined ? 1 : 0);
    if (limit === 0) return [];
    const rows = await t.vectorSearch(q).column('embedding').distanceType('cosine').select(['id', 'metadata', '_distance']).limit(limit).toArray();
    const hits: Hit[] = [];
    for (const r of rows) {
      if (r.id === exclude) continue;
      const metadata = JSON.parse(r.metadata as string) as Record<string, unknown>;
      if (!matches(metadata, filter)) continue;
      hits.push({ id: r.id as string, similarity: 1 - (r._distance as number), metadata });
      if (hits.length >= k) break;
    }
    return hits;
  }

  async deleteImages(name: string, ids: readonly string[]): Promise<number> {
    return this.exclusive(name, async () => {
      const t = await this.table(name);
      // The rows this request removes (counted by id, as other replicas may write meanwhile).
      let removed = 0;
      for (let i = 0; i < ids.length; i += 500) {
        const where = `id IN (${ids.slice(i, i + 500).map(sqlString).join(', ')})`;
        removed += await t.countRows(where);
        await retryConflicts(() => t.delete(where));
      }
      return removed;
    });
  }

  async drop(name: string): Promise<void> {
    await this.config(name);
    await this.exclusive(name, async () => {
      // The config goes first: a crash half-way leaves no collection, never a collection without its table.
      await this.removeConfig(name);
      this.keyed.delete(name);
      const conn = await this.connection();
      if ((await conn.tableNames()).includes(name)) await conn.dropTable(name);
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.locks.values()]);
    const conn = await this.conn;
    conn?.close();
  }
}
