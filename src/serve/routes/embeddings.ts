/**
 * POST /v1/embeddings — the OpenAI embeddings API for images: `{model, input: [image…], encoding_format,
 * pooling, size, normalize}` → `{object: 'list', data: [{object: 'embedding', embedding, index}], model,
 * usage}`. Images go through the eval transform at `size` and the dynamic batcher.
 */
import type { App } from '../context.js';
import { HttpError } from '../errors.js';
import { enumField, intField, requestImages, stringField, transformAll } from '../requestImages.js';
import { embedTransformSpec } from '../../data/imagePipeline.js';
import { l2Normalize } from '../../eval/knn.js';
import type { BatchOutput } from '../batcher.js';
import type { Tensor } from '../../core/tensor.js';

export const POOLINGS = ['cls', 'mean', 'cls+mean'] as const;
export type Pooling = (typeof POOLINGS)[number];

export function pooled(out: BatchOutput, pooling: Pooling): Float32Array {
  if (pooling === 'cls') return out.cls;
  if (pooling === 'mean') return out.mean;
  const both = new Float32Array(out.cls.length * 2);
  both.set(out.cls);
  both.set(out.mean, out.cls.length);
  return both;
}

/**
 * Decodes, transforms (eval transform at `size`) and embeds the request's images through the batcher:
 * what every route that needs global embeddings uses.
 */
export async function embedImages(app: App, request: import('fastify').FastifyRequest, modelId: string, images: { bytes: Uint8Array; what: string }[], size: number): Promise<BatchOutput[]> {
  const { pool, batcher, opts, prep } = app.dinov2;
  if (!pool.has(modelId)) throw new HttpError(404, `unknown model '${modelId}'; this server has ${pool.ids.join(', ')}`, {}, 'model_not_found');
  batcher.checkRoom(images.length);
  const patch = await pool.use(modelId, async (m) => m.patchSize);
  if (size % patch !== 0) throw new HttpError(400, `size ${size} is not a multiple of the patch size ${patch} (e.g. ${Math.max(1, Math.round(size / patch)) * patch})`);
  const xs: Tensor<'float32'>[] = await transformAll(images, opts.maxPixels, prep, embedTransformSpec({ size }, patch));
  if (request.work.aborted) throw request.work.reason;
  const out = batcher.submit(modelId, xs, request.work);
  request.arrived?.();
  return out;
}

const imageList = {
  anyOf: [
    { type: 'string', description: 'base64 image bytes, a data URI, or an http(s) URL (with --allow-urls)' },
    { type: 'array', items: { type: 'string' }, minItems: 1 },
  ],
};

export const embeddingsBody = {
  type: 'object',
  required: ['input'],
  additionalProperties: false,
  properties: {
    model: { type: 'string', description: 'a model id of this server (GET /v1/models); default: the first' },
    input: imageList,
    encoding_format: { type: 'string', enum: ['float', 'base64'], default: 'float', description: 'base64: little-endian float32 bytes' },
    pooling: { type: 'string', enum: [...POOLINGS], default: 'cls' },
    size: { type: 'integer', minimum: 14, maximum: 1036, default: 224, description: 'eval-transform crop side (multiple of the patch size)' },
    normalize: { type: 'boolean', default: false, description: 'L2-normalise each embedding' },
    user: { type: 'string' },
  },
} as const;

export async function embeddingsRoutes(app: App): Promise<void> {
  // The batcher waits for requests that are arriving before it starts a batch (see batcher.ts).
  app.addHook('onRequest', async (request) => {
    request.arrived = app.dinov2.batcher.arrive();
  });
  app.addHook('onResponse', async (request) => request.arrived?.());
  app.addHook('onRequestAbort', async (request) => request.arrived?.());
  app.post(
    '/v1/embeddings',
    {
      schema: {
        summary: 'Image embeddings (OpenAI-style). JSON body, or multipart/form-data with image files and the same fields.',
        tags: ['embeddings'],
        body: { content: { 'application/json': { schema: embeddingsBody } } },
        response: {
          200: {
            type: 'object',
            properties: {
              object: { type: 'string' },
              model: { type: 'string' },
              data: { type: 'array', items: { type: 'object', properties: { object: { type: 'string' }, index: { type: 'integer' }, embedding: { anyOf: [{ type: 'array', items: { type: 'number' } }, { type: 'string' }] } } } },
              usage: { type: 'object', properties: { prompt_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } } },
            },
          },
        },
      },
    },
    async (request) => {
      const { pool, opts } = app.dinov2;
      const { images, fields } = await requestImages(request, opts);
      const modelId = stringField(fields, 'model') ?? pool.defaultId;
      request.modelId = modelId;
      const pooling = enumField(fields, 'pooling', POOLINGS, 'cls');
      const format = enumField(fields, 'encoding_format', ['float', 'base64'] as const, 'float');
      const size = intField(fields, 'size', 224, 14, 1036)!;
      const normalize = fields['normalize'] === true || fields['normalize'] === 'true';
      const outs = await embedImages(app, request, modelId, images, size);
      let tokens = 0;
      const data = outs.map((o, index) => {
        tokens += o.tokens;
        let v = pooled(o, pooling);
        if (normalize) v = l2Normalize(v, v.length);
        const embedding = format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v);
        return { object: 'embedding', index, embedding };
      });
      return { object: 'list', model: modelId, data, usage: { prompt_tokens: tokens, total_tokens: tokens } };
    },
  );
}
