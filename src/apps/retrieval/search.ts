/**
 * Nearest images in an index (`index.ts`): the query is embedded exactly as the rows were (same model, CLS,
 * image size), normalised, and LanceDB returns the rows of that model by cosine distance (exact search;
 * an ANN index can be added to the table with LanceDB's own tools for very large collections).
 */
import { decodeImage } from '../../data/decode.js';
import type { RgbImage } from '../../data/image.js';
import { batchTensors } from '../../data/transforms.js';
import { embedTransform } from '../../data/imagePipeline.js';
import type { Dinov2 } from '../../models/dinov2.js';
import { DEFAULT_TABLE, modelKey, openIndexTable, sqlString, tableDim, unitVector } from './indexImages.js';

export interface SearchHit {
  path: string;
  /** Cosine distance, 1 − similarity (0 for the same embedding). */
  distance: number;
  similarity: number;
}

export interface IndexInfo {
  rows: number;
  dim: number;
  /** Models with rows in the index: stored name, identity key, image size, row count. */
  models: { model: string; modelKey: string; imageSize: number; rows: number }[];
}

/** What an index holds, without embedding anything. */
export async function describeIndex(db: string, table = DEFAULT_TABLE): Promise<IndexInfo> {
  const t = await openIndexTable(db, table);
  if (!t) throw new Error(`${db}: no image index (table '${table}'); build one with 'dinov2 index'`);
  const groups = new Map<string, { model: string; modelKey: string; imageSize: number; rows: number }>();
  for (const r of await t.query().select(['model', 'model_key', 'image_size']).toArray()) {
    const k = `${r.model_key}|${r.image_size}`;
    const g = groups.get(k) ?? { model: r.model as string, modelKey: r.model_key as string, imageSize: r.image_size as number, rows: 0 };
    g.rows++;
    groups.set(k, g);
  }
  return { rows: await t.countRows(), dim: await tableDim(t), models: [...groups.values()].sort((a, b) => b.rows - a.rows) };
}

export interface SearchOptions {
  db: string;
  model: Dinov2;
  k?: number;
  table?: string;
}

/** The `k` indexed images closest to `image` (a path, encoded bytes or a decoded image), nearest first. */
export async function searchImage(image: string | Uint8Array | RgbImage, opts: SearchOptions): Promise<SearchHit[]> {
  const tableName = opts.table ?? DEFAULT_TABLE;
  const t = await openIndexTable(opts.db, tableName);
  if (!t) throw new Error(`${opts.db}: no image index (table '${tableName}'); build one with 'dinov2 index'`);
  const key = await modelKey(opts.model);
  const [mine] = await t.query().where(`model_key = ${sqlString(key)}`).select(['image_size']).limit(1).toArray();
  if (!mine) {
    const held = (await describeIndex(opts.db, tableName)).models.map((m) => `${m.model} (${m.rows} images)`).join(', ') || 'nothing';
    throw new Error(`${opts.db}: no images indexed with ${opts.model.name}; the index holds ${held}`);
  }
  const imageSize = mine.image_size as number;
  const rgb = typeof image === 'string' || image instanceof Uint8Array ? await decodeImage(image) : image;
  const x = embedTransform({ size: imageSize }, opts.model.patchSize)(rgb);
  const q = unitVector((await opts.model.forwardFeatures(batchTensors([x]))).clsToken.data);
  const rows = await t
    .vectorSearch(q)
    .column('embedding')
    .distanceType('cosine')
    .where(`model_key = ${sqlString(key)} AND image_size = ${imageSize}`)
    .select(['path', '_distance'])
    .limit(opts.k ?? 10)
    .toArray();
  return rows.map((r) => ({ path: r.path as string, distance: r._distance as number, similarity: 1 - (r._distance as number) }));
}
