/**
 * `dinov2 index --merge`: combines the collections written by shards (`index --shard i/N`, one folder per
 * shard, or worker outputs) into one collection. Rows are streamed batch by batch (memory does not grow
 * with the collection) and upserted by their key — `id` where the table has it (queue collections), else
 * `path` (index tables) — so merging twice, or merging overlapping shards, leaves one row per key.
 */
import * as lancedb from '@lancedb/lancedb';
import type { FixedSizeList, Schema } from 'apache-arrow';
import { DEFAULT_TABLE } from '../retrieval/indexImages.js';
import { upsertRows } from './upsert.js';
import { connectDb } from './storage.js';

export interface MergeOptions {
  /** Destination LanceDB folder or URI (created if missing). */
  db: string;
  table?: string;
  /** Table name in the sources (default: `table`). */
  sourceTable?: string;
  /** Rows per upsert (default 1024). */
  batch?: number;
  onProgress?: (source: string, rows: number) => void;
}

export interface MergeReport {
  db: string;
  table: string;
  sources: { db: string; rows: number }[];
  /** Rows in the destination afterwards. */
  rows: number;
  key: string;
  seconds: number;
}

function describe(schema: Schema): string {
  return schema.fields.map((f) => `${f.name}:${f.type}`).join(', ');
}

function embeddingDim(schema: Schema, where: string): number {
  const t = schema.fields.find((f) => f.name === 'embedding')?.type as FixedSizeList | undefined;
  if (!t || typeof t.listSize !== 'number') throw new Error(`${where}: no fixed-size 'embedding' column; not an image collection`);
  return t.listSize;
}

/** Plain JS row of a record batch row (vectors as number arrays, which LanceDB accepts back). */
function plainRow(row: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of names) {
    const v = row[n] as unknown;
    out[n] = v !== null && typeof v === 'object' && typeof (v as { toArray?: unknown }).toArray === 'function' ? Array.from((v as { toArray(): ArrayLike<number> }).toArray()) : typeof v === 'bigint' ? Number(v) : v;
  }
  return out;
}

export async function mergeIndexes(sources: readonly string[], opts: MergeOptions): Promise<MergeReport> {
  const started = performance.now();
  if (sources.length === 0) throw new Error('index --merge: no source collections given');
  const tableName = opts.table ?? DEFAULT_TABLE;
  const srcName = opts.sourceTable ?? tableName;
  const batch = opts.batch ?? 1024;
  // Open and check every source before writing anything.
  const opened: { db: string; table: lancedb.Table; schema: Schema }[] = [];
  for (const db of sources) {
    const conn = await connectDb(db);
    let table: lancedb.Table;
    try {
      table = await conn.openTable(srcName);
    } catch {
      throw new Error(`${db}: no table '${srcName}' (is this a shard written by "dinov2 index --shard"?)`);
    }
    opened.push({ db, table, schema: await table.schema() });
  }
  const first = opened[0]!;
  const dim = embeddingDim(first.schema, `${first.db} table '${srcName}'`);
  const names = first.schema.fields.map((f) => f.name);
  for (const o of opened.slice(1)) {
    if (describe(o.schema) !== describe(first.schema)) {
      throw new Error(`${o.db}: table '${srcName}' has columns (${describe(o.schema)}), ${first.db} has (${describe(first.schema)}); shards must be written the same way`);
    }
  }
  const key = names.includes('id') ? 'id' : 'path';
  if (!names.includes(key)) throw new Error(`${first.db}: table '${srcName}' has neither an 'id' nor a 'path' column`);

  const conn = await connectDb(opts.db);
  let target: lancedb.Table | undefined;
  try {
    target = await conn.openTable(tableName);
  } catch {
    target = undefined;
  }
  if (target) {
    const ts = await target.schema();
    if (describe(ts) !== describe(first.schema)) {
      throw new Error(`${opts.db}: table '${tableName}' has columns (${describe(ts)}), the shards have (${describe(first.schema)}); merge into another --db`);
    }
  } else {
    target = await conn.createEmptyTable(tableName, first.schema);
  }
  if (embeddingDim(await target.schema(), opts.db) !== dim) throw new Error(`${opts.db}: embedding width differs from the shards' ${dim}`);

  // The model key must agree: merging embeddings of different models would mix spaces.
  const modelKeys = new Set<string>();
  const report: MergeReport['sources'] = [];
  for (const o of opened) {
    let rows = 0;
    let pending: Record<string, unknown>[] = [];
    for await (const rb of o.table.query().select(names)) {
      for (const r of rb.toArray() as Record<string, unknown>[]) {
        const row = plainRow(r, names);
        if (typeof row['model_key'] === 'string') {
          modelKeys.add(row['model_key']);
          if (modelKeys.size > 1) throw new Error(`${o.db}: rows embedded by different models (model_key ${[...modelKeys].join(', ')}); merge shards of one model only`);
        }
        pending.push(row);
        if (pending.length >= batch) {
          await upsertRows(target, key, pending);
          rows += pending.length;
          pending = [];
          opts.onProgress?.(o.db, rows);
        }
      }
    }
    await upsertRows(target, key, pending);
    rows += pending.length;
    opts.onProgress?.(o.db, rows);
    report.push({ db: o.db, rows });
  }
  await target.optimize();
  return { db: opts.db, table: tableName, sources: report, rows: await target.countRows(), key, seconds: (performance.now() - started) / 1000 };
}
