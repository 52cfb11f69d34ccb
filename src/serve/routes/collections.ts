/**
 * Collections of images in LanceDB (see ../collections.ts):
 *   GET    /v1/collections                         list
 *   PUT    /v1/collections/{name}                  create {model?, size?}
 *   GET    /v1/collections/{name}                  describe
 *   DELETE /v1/collections/{name}                  drop
 *   POST   /v1/collections/{name}/images           add {images: [{id, image, metadata}]} or multipart files
 *   GET    /v1/collections/{name}/images           list ids and metadata (offset, limit)
 *   GET    /v1/collections/{name}/images/{id}/thumbnail
 *   DELETE /v1/collections/{name}/images/{id}      remove one; POST …/images/delete {ids} removes several
 *   POST   /v1/collections/{name}/search           {image | id | vector, k, filter} (or multipart with one file)
 *   GET    /v1/collections/{name}/duplicates       near-duplicate groups (threshold)
 *   POST   /v1/collections/{name}/curate           hierarchical k-means + balanced sampling
 */
import sharp from 'sharp';
import type { FastifyRequest } from 'fastify';
import type { App } from '../context.js';
import { checkCollectionName, IMAGE_ID, type Collections, type CollectionRow } from '../collections.js';
import { HttpError } from '../errors.js';
import { inputBytes } from '../images.js';
import { embedImages } from './embeddings.js';
import { requestImages } from '../requestImages.js';
import { l2Normalize } from '../../eval/knn.js';
import { groupDuplicates, DEFAULT_DEDUP_THRESHOLD } from '../../apps/retrieval/dedup.js';
import { curate } from '../../apps/curation/curate.js';

const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 200 } } } as const;
const idParams = { type: 'object', required: ['name', 'id'], properties: { name: { type: 'string', maxLength: 200 }, id: { type: 'string', maxLength: 300 } } } as const;

function need(c: Collections | null): Collections {
  if (!c) throw new HttpError(404, 'collections are disabled on this server (start it with --collections DIR)', {}, 'collections_disabled');
  return c;
}

function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !IMAGE_ID.test(id)) throw new HttpError(400, `${what}: image ids are 1–256 characters without control characters`);
  return id;
}

function parseJsonField(v: unknown, what: string): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    throw new HttpError(400, `${what} is not valid JSON`);
  }
}

function checkFilter(v: unknown): Record<string, unknown> | undefined {
  if (v === undefined || v === '') return undefined;
  const f = parseJsonField(v, 'filter');
  if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new HttpError(400, 'filter must be an object of metadata key → value');
  for (const [k, x] of Object.entries(f)) if (x !== null && typeof x === 'object') throw new HttpError(400, `filter.${k} must be a string, number or boolean`);
  return f as Record<string, unknown>;
}

async function thumbnailOf(bytes: Uint8Array, maxPixels: number): Promise<Uint8Array> {
  const b = await sharp(bytes, { limitInputPixels: maxPixels }).rotate().resize(192, 192, { fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 75 }).toBuffer();
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

async function queryVector(app: App, request: FastifyRequest, name: string, fields: Record<string, unknown>, image: { bytes: Uint8Array; what: string } | undefined): Promise<{ q: Float32Array; exclude?: string }> {
  const cols = need(app.dinov2.collections);
  const config = await cols.config(name);
  const given = [image !== undefined, fields['id'] !== undefined, fields['vector'] !== undefined].filter(Boolean).length;
  if (given !== 1) throw new HttpError(400, 'search needs exactly one of: image, id, vector');
  if (image) {
    const [out] = await embedImages(app, request, config.model, [image], config.size);
    return { q: l2Normalize(out!.cls, out!.cls.length) };
  }
  if (fields['id'] !== undefined) {
    const id = checkId(fields['id'], 'id');
    return { q: await cols.embeddingOf(name, id), exclude: id };
  }
  const v = parseJsonField(fields['vector'], 'vector');
  if (!Array.isArray(v) || v.length !== config.dim || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new HttpError(400, `vector must be ${config.dim} finite numbers (the collection's embedding width)`);
  }
  const q = Float32Array.from(v as number[]);
  let n = 0;
  for (const x of q) n += x * x;
  if (n === 0) throw new HttpError(400, 'vector must not be all zeros');
  return { q: l2Normalize(q, q.length) };
}

export async function collectionsRoutes(app: App): Promise<void> {
  const { opts, pool } = app.dinov2;

  app.get('/v1/collections', { schema: { summary: 'List collections', tags: ['collections'] } }, async () => {
    const cols = need(app.dinov2.collections);
    const list = await cols.list();
    return { data: await Promise.all(list.map(async (c) => ({ ...c, count: await cols.count(c.name).catch(() => 0) }))) };
  });

  app.put<{ Params: { name: string }; Body: { model?: string; size?: number } }>(
    '/v1/collections/:name',
    {
      schema: {
        summary: 'Create a collection bound to a model and image size (idempotent for the same model and size)',
        tags: ['collections'],
        params: nameParams,
        body: { type: 'object', additionalProperties: false, properties: { model: { type: 'string' }, size: { type: 'integer', minimum: 14, maximum: 1036, default: 224 } } },
      },
    },
    async (request, reply) => {
      const cols = need(app.dinov2.collections);
      checkCollectionName(request.params.name);
      const model = request.body?.model ?? pool.defaultId;
      const size = request.body?.size ?? 224;
      if (!pool.has(model)) throw new HttpError(404, `unknown model '${model}'; this server has ${pool.ids.join(', ')}`, {}, 'model_not_found');
      request.modelId = model;
      const { dim, patch } = await pool.use(model, async (m) => ({ dim: m.embedDim, patch: m.patchSize }));
      if (size % patch !== 0) throw new HttpError(400, `size ${size} is not a multiple of the patch size ${patch}`);
      const { config, created } = await cols.create(request.params.name, model, size, dim);
      return reply.code(created ? 201 : 200).send({ ...config, count: await cols.count(config.name) });
    },
  );

  app.get<{ Params: { name: string } }>('/v1/collections/:name', { schema: { summary: 'Describe a collection', tags: ['collections'], params: nameParams } }, async (request) => {
    const cols = need(app.dinov2.collections);
    const config = await cols.config(request.params.name);
    return { ...config, count: await cols.count(config.name) };
  });

  app.delete<{ Params: { name: string } }>('/v1/collections/:name', { schema: { summary: 'Delete a collection', tags: ['collections'], params: nameParams } }, async (request) => {
    const cols = need(app.dinov2.collections);
    await cols.drop(request.params.name);
    return { deleted: request.params.name };
  });

  app.post<{ Params: { name: string } }>(
    '/v1/collections/:name/images',
    {
      schema: {
        summary: 'Add images (id, metadata); an existing id is replaced. JSON, or multipart files (id = file name, or an `ids` JSON array field; `metadata` JSON array field)',
        tags: ['collections'],
        params: nameParams,
        body: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['images'],
                additionalProperties: false,
                properties: {
                  images: {
                    type: 'array',
                    minItems: 1,
                    items: { type: 'object', required: ['id', 'image'], additionalProperties: false, properties: { id: { type: 'string' }, image: { type: 'string' }, metadata: { type: 'object' } } },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const cols = need(app.dinov2.collections);
      const config = await cols.config(request.params.name);
      request.modelId = config.model;
      let items: { id: string; bytes: Uint8Array; what: string; metadata: Record<string, unknown> }[];
      if (request.isMultipart()) {
        const { images, fields } = await requestImages(request, opts, 'images');
        const ids = fields['ids'] !== undefined ? parseJsonField(fields['ids'], 'ids') : undefined;
        const metas = fields['metadata'] !== undefined ? parseJsonField(fields['metadata'], 'metadata') : undefined;
        if (ids !== undefined && (!Array.isArray(ids) || ids.length !== images.length)) throw new HttpError(400, `ids must be a JSON array of ${images.length} ids (one per file)`);
        if (metas !== undefined && (!Array.isArray(metas) || metas.length !== images.length)) throw new HttpError(400, `metadata must be a JSON array of ${images.length} objects (one per file)`);
        items = images.map((im, i) => {
          const fileName = /\((.*)\)$/.exec(im.what)?.[1];
          const id = checkId(ids ? (ids as unknown[])[i] : fileName, `${im.what}: id`);
          const metadata = metas ? (metas as unknown[])[i] : {};
          if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw new HttpError(400, `metadata[${i}] must be an object`);
          return { id, bytes: im.bytes, what: im.what, metadata: metadata as Record<string, unknown> };
        });
      } else {
        const body = request.body as { images: { id: string; image: string; metadata?: Record<string, unknown> }[] };
        if (body.images.length > opts.maxImages) throw new HttpError(413, `too many images: ${body.images.length} given, at most ${opts.maxImages} per request`);
        const rules = { allowUrls: opts.allowUrls, fetch: { maxBytes: opts.bodyLimit, timeoutMs: 10_000, lookupHost: opts.lookupHost } };
        items = await Promise.all(
          body.images.map(async (im, i) => ({ id: checkId(im.id, `images[${i}].id`), bytes: await inputBytes(im.image, `images[${i}].image`, rules), what: `images[${i}].image`, metadata: im.metadata ?? {} })),
        );
      }
      const seen = new Set<string>();
      for (const it of items) {
        if (seen.has(it.id)) throw new HttpError(400, `id '${it.id}' appears twice in the request`);
        seen.add(it.id);
      }
      // Every image is decoded on the preprocessing workers (and refused with its name) before anything is written.
      const outs = await embedImages(app, request, config.model, items, config.size);
      const rows: CollectionRow[] = await Promise.all(
        items.map(async (it, i) => ({ id: it.id, metadata: it.metadata, embedding: l2Normalize(outs[i]!.cls, outs[i]!.cls.length), thumbnail: await thumbnailOf(it.bytes, opts.maxPixels) })),
      );
      if (request.work.aborted) throw request.work.reason;
      await cols.add(config.name, rows);
      return { added: rows.length, ids: rows.map((r) => r.id), count: await cols.count(config.name) };
    },
  );

  app.get<{ Params: { name: string }; Querystring: { offset?: number; limit?: number } }>(
    '/v1/collections/:name/images',
    {
      schema: {
        summary: 'List image ids and metadata',
        tags: ['collections'],
        params: nameParams,
        querystring: { type: 'object', properties: { offset: { type: 'integer', minimum: 0, default: 0 }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } } },
      },
    },
    async (request) => {
      const cols = need(app.dinov2.collections);
      const images = await cols.images(request.params.name, request.query.offset ?? 0, request.query.limit ?? 100);
      return { data: images };
    },
  );

  app.get<{ Params: { name: string; id: string } }>(
    '/v1/collections/:name/images/:id/thumbnail',
    { schema: { summary: 'JPEG thumbnail of an image (at most 192 px)', tags: ['collections'], params: idParams } },
    async (request, reply) => {
      const cols = need(app.dinov2.collections);
      checkCollectionName(request.params.name);
      const bytes = await cols.thumbnail(request.params.name, checkId(request.params.id, 'id'));
      return reply.type('image/jpeg').header('cache-control', 'no-cache').send(Buffer.from(bytes));
    },
  );

  app.delete<{ Params: { name: string; id: string } }>('/v1/collections/:name/images/:id', { schema: { summary: 'Remove one image', tags: ['collections'], params: idParams } }, async (request) => {
    const cols = need(app.dinov2.collections);
    checkCollectionName(request.params.name);
    const id = checkId(request.params.id, 'id');
    const removed = await cols.deleteImages(request.params.name, [id]);
    if (removed === 0) throw new HttpError(404, `collection '${request.params.name}' has no image '${id}'`, {}, 'image_not_found');
    return { deleted: [id] };
  });

  app.post<{ Params: { name: string }; Body: { ids: string[] } }>(
    '/v1/collections/:name/images/delete',
    {
      schema: {
        summary: 'Remove several images',
        tags: ['collections'],
        params: nameParams,
        body: { type: 'object', required: ['ids'], additionalProperties: false, properties: { ids: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 10000 } } },
      },
    },
    async (request) => {
      const cols = need(app.dinov2.collections);
      checkCollectionName(request.params.name);
      const ids = request.body.ids.map((id, i) => checkId(id, `ids[${i}]`));
      return { deleted: await cols.deleteImages(request.params.name, ids) };
    },
  );

  app.post<{ Params: { name: string } }>(
    '/v1/collections/:name/search',
    {
      schema: {
        summary: 'Nearest images by image, id or vector (cosine), optionally filtered on metadata',
        tags: ['collections'],
        params: nameParams,
        body: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  image: { type: 'string' },
                  id: { type: 'string' },
                  vector: { type: 'array', items: { type: 'number' } },
                  k: { type: 'integer', minimum: 1, maximum: 1000, default: 10 },
                  filter: { type: 'object', description: 'metadata key → required value' },
                },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const cols = need(app.dinov2.collections);
      const name = request.params.name;
      checkCollectionName(name);
      let fields: Record<string, unknown>;
      let image: { bytes: Uint8Array; what: string } | undefined;
      if (request.isMultipart()) {
        const r = await requestImages(request, { ...opts, maxImages: 1 }, 'image', false);
        fields = r.fields;
        image = r.images[0];
      } else {
        fields = (request.body ?? {}) as Record<string, unknown>;
        if (fields['image'] !== undefined) {
          const rules = { allowUrls: opts.allowUrls, fetch: { maxBytes: opts.bodyLimit, timeoutMs: 10_000, lookupHost: opts.lookupHost } };
          image = { bytes: await inputBytes(fields['image'], 'image', rules), what: 'image' };
        }
      }
      const config = await cols.config(name);
      request.modelId = config.model;
      const kRaw = fields['k'] ?? 10;
      const k = Number(kRaw);
      if (!Number.isInteger(k) || k < 1 || k > 1000) throw new HttpError(400, `k must be an integer from 1 to 1000, got ${JSON.stringify(kRaw)}`);
      const filter = checkFilter(fields['filter']);
      const { q, exclude } = await queryVector(app, request, name, fields, image);
      const hits = await cols.search(name, q, k, filter, exclude);
      return { collection: name, model: config.model, data: hits };
    },
  );

  app.get<{ Params: { name: string }; Querystring: { threshold?: number } }>(
    '/v1/collections/:name/duplicates',
    {
      schema: {
        summary: 'Groups of near-duplicate images (cosine similarity ≥ threshold)',
        tags: ['collections'],
        params: nameParams,
        querystring: { type: 'object', properties: { threshold: { type: 'number', exclusiveMinimum: -1, maximum: 1, default: DEFAULT_DEDUP_THRESHOLD } } },
      },
    },
    async (request) => {
      const cols = need(app.dinov2.collections);
      const threshold = request.query.threshold ?? DEFAULT_DEDUP_THRESHOLD;
      const { ids, embeddings, dim } = await cols.all(request.params.name);
      const groups = await groupDuplicates(ids, embeddings, dim, threshold);
      return { threshold, images: ids.length, groups: groups.map((g) => ({ ids: g.members, similarity_to_first: g.similarityToFirst })) };
    },
  );

  app.post<{ Params: { name: string }; Body: { budget: number; levels?: number[]; strategy?: 'r' | 'c'; seed?: number } }>(
    '/v1/collections/:name/curate',
    {
      schema: {
        summary: 'Clustering-based curation: hierarchical k-means, then balanced sampling of `budget` images',
        tags: ['collections'],
        params: nameParams,
        body: {
          type: 'object',
          required: ['budget'],
          additionalProperties: false,
          properties: {
            budget: { type: 'integer', minimum: 1 },
            levels: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, maxItems: 4, description: 'clusters per level, finest first (default: one level of ~√n)' },
            strategy: { type: 'string', enum: ['r', 'c'], default: 'c' },
            seed: { type: 'integer', default: 0 },
          },
        },
      },
    },
    async (request) => {
      const cols = need(app.dinov2.collections);
      const { ids, embeddings, dim } = await cols.all(request.params.name);
      const n = ids.length;
      if (n < 2) throw new HttpError(400, `collection '${request.params.name}' has ${n} image(s); curation needs at least 2`);
      const levels = request.body.levels ?? [Math.max(2, Math.min(n, Math.round(Math.sqrt(n))))];
      for (let l = 0; l < levels.length; l++) {
        const below = l === 0 ? n : levels[l - 1]!;
        if (levels[l]! > below) throw new HttpError(400, `levels[${l}] = ${levels[l]} clusters, more than the ${below} items of the level below`);
      }
      const r = await curate(embeddings, n, dim, { levels: levels.map((k) => ({ nClusters: k })), budget: request.body.budget, strategy: request.body.strategy ?? 'c', seed: request.body.seed ?? 0 });
      return {
        images: n,
        selected: Array.from(r.selected, (i) => ids[i]!),
        levels: r.levels.map((lv, l) => ({
          k: lv.k,
          clusters: lv.clusters.map((members) => (l === 0 ? Array.from(members, (i) => ids[i]!) : Array.from(members))),
        })),
      };
    },
  );
}
