/**
 * One image in, a picture out — the CLI's visualisations as endpoints, all at the image's own size:
 * - POST /v1/pca: the foreground PCA feature map (apps/pca.ts);
 * - POST /v1/attention: the class token's attention per head of the last block (heads/attentionMaps.ts);
 * - POST /v1/classify: top-k classes from the server's classifier head;
 * - POST /v1/depth: metric depth from the server's depth head;
 * - POST /v1/segment: per-pixel classes from the server's segmentation head.
 * JSON by default (pictures as PNG data URIs); `Accept: image/png` answers the picture itself.
 * Heads are files the operator configured (`--head kind=FILE`); they load with their model and are
 * disposed with it when it is evicted.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import sharp from 'sharp';
import type { App } from '../context.js';
import { HttpError } from '../errors.js';
import { decodeAll, enumField, intField, numberField, requestImages, stringField, wants } from '../requestImages.js';
import { pcaImage } from '../../apps/pca.js';
import { AttentionMaps } from '../../heads/attentionMaps.js';
import { LinearClassifier, loadLinearHead } from '../../heads/classifier.js';
import type { Segmenter } from '../../heads/segmentation/segmenter.js';
import { loadDepther, loadSegmenter } from '../../hub/loadHead.js';
import { isHubModelName } from '../../models/config.js';
import { resizeBilinear } from '../../heads/resize.js';
import { resize } from '../../data/resample.js';
import { denseTransform, evalTransform, normalize, toTensor, batchTensors } from '../../data/transforms.js';
import type { RgbImage } from '../../data/image.js';
import { applyColormap, finiteRange } from '../../apps/viz/colormap.js';
import { paletteColours } from '../../apps/viz/overlay.js';
import type { Dinov2 } from '../../models/dinov2.js';
import type { ModelPool } from '../modelPool.js';
import { evalResizeFor } from '../../data/imagePipeline.js';

export async function pngOf(width: number, height: number, rgb: Uint8Array): Promise<Buffer> {
  return sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** A patch map (h×w×3 floats in [0,1]) at W×H pixels, nearest patch per pixel. */
export function patchMapToImage(map: Float32Array, h: number, w: number, W: number, H: number): Uint8Array {
  const out = new Uint8Array(W * H * 3);
  for (let Y = 0; Y < H; Y++) {
    const y = Math.min(h - 1, Math.floor((Y * h) / H));
    for (let X = 0; X < W; X++) {
      const x = Math.min(w - 1, Math.floor((X * w) / W));
      for (let c = 0; c < 3; c++) out[(Y * W + X) * 3 + c] = Math.round(255 * map[(y * w + x) * 3 + c]!);
    }
  }
  return out;
}

async function answerPicture(request: FastifyRequest, reply: FastifyReply, png: Buffer, json: Record<string, unknown>): Promise<unknown> {
  if (wants(request, 'image/png')) return reply.type('image/png').send(png);
  return { ...json, image: `data:image/png;base64,${png.toString('base64')}` };
}

const singleImageBody = (extra: Record<string, unknown>) => ({
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['input'],
        additionalProperties: false,
        properties: { model: { type: 'string' }, input: { type: 'string', description: 'one image: base64, data URI, or URL (with --allow-urls)' }, ...extra },
      },
    },
  },
});

interface Disposable {
  dispose(): Promise<void>;
}

/** The head object `kind` of the heads' model, built once per model load. */
async function withHead<T extends Disposable>(
  app: App,
  request: FastifyRequest,
  kind: 'classify' | 'depth' | 'segment',
  build: (model: Dinov2, path: string) => Promise<T>,
  fn: (head: T, model: Dinov2) => Promise<unknown>,
): Promise<unknown> {
  const { pool, opts } = app.dinov2;
  const path = opts.heads[kind];
  if (!path) throw new HttpError(404, `this server has no ${kind} head (start it with --head ${kind}=FILE)`, {}, 'head_not_configured');
  const modelId = opts.heads.model ?? pool.defaultId;
  const asked = (request.body as Record<string, unknown> | undefined)?.['model'];
  if (typeof asked === 'string' && asked !== modelId) throw new HttpError(400, `the ${kind} head belongs to model '${modelId}', not '${asked}'`);
  request.modelId = modelId;
  return (pool as ModelPool).use(modelId, async (model, extras) => {
    let head = extras.get(kind) as T | undefined;
    if (!head) {
      try {
        head = await build(model, path);
      } catch (e) {
        // The operator's file and its problem go to the log; clients never see server paths.
        request.log.error({ err: e, head: path, model: modelId }, `the ${kind} head cannot be used`);
        throw new HttpError(503, `the ${kind} head of this server cannot be used with model '${modelId}' (the server log says why)`, {}, 'head_unavailable');
      }
      extras.set(kind, head);
    }
    return fn(head, model);
  });
}

async function oneImage(app: App, request: FastifyRequest): Promise<{ img: RgbImage; fields: Record<string, unknown> }> {
  const { images, fields } = await requestImages(request, { ...app.dinov2.opts, maxImages: 1 });
  const [img] = await decodeAll(images, app.dinov2.opts.maxPixels, app.dinov2.prep);
  return { img: img!, fields };
}

/** The heads' backbone hub name (when it has one), for the loaders' released-head checks. */
function headModelOpts(app: App): { model?: string } {
  const { opts, pool } = app.dinov2;
  const source = pool.spec(opts.heads.model ?? pool.defaultId).source;
  return source !== undefined && isHubModelName(source) ? { model: source } : {};
}

function modelOf(app: App, request: FastifyRequest, fields: Record<string, unknown>): string {
  const { pool } = app.dinov2;
  const id = stringField(fields, 'model') ?? pool.defaultId;
  if (!pool.has(id)) throw new HttpError(404, `unknown model '${id}'; this server has ${pool.ids.join(', ')}`, {}, 'model_not_found');
  request.modelId = id;
  return id;
}

export async function visionRoutes(app: App): Promise<void> {
  const { pool } = app.dinov2;

  app.post(
    '/v1/pca',
    {
      schema: {
        summary: 'Foreground PCA of the patch features as an RGB map at the image size (JSON or image/png)',
        tags: ['vision'],
        body: singleImageBody({ dense: { type: 'integer', minimum: 14, maximum: 1036, default: 224, description: 'shorter side of the model input' }, threshold: { anyOf: [{ type: 'number' }, { type: 'string', enum: ['auto'] }] } }),
      },
    },
    async (request, reply) => {
      const { img, fields } = await oneImage(app, request);
      const modelId = modelOf(app, request, fields);
      const dense = intField(fields, 'dense', 224, 14, 1036)!;
      const threshold = fields['threshold'] === 'auto' ? 'auto' : numberField(fields, 'threshold', 0, -1e9, 1e9)!;
      const r = await pool.use(modelId, (model) => pcaImage(img, { model, dense, threshold }));
      const [h, w] = r.grid;
      const png = await pngOf(img.width, img.height, patchMapToImage(r.components, h, w, img.width, img.height));
      let fg = 0;
      for (const m of r.foregroundMask) fg += m;
      return answerPicture(request, reply, png, { model: modelId, width: img.width, height: img.height, grid: r.grid, threshold: r.threshold, foreground_fraction: fg / r.foregroundMask.length });
    },
  );

  app.post(
    '/v1/attention',
    {
      schema: {
        summary: 'Last-block attention of the class token per head (JSON grids, or image/png of one head / the mean)',
        tags: ['vision'],
        body: singleImageBody({ dense: { type: 'integer', minimum: 14, maximum: 1036, default: 224 }, head: { type: 'integer', minimum: -1, description: 'the head of a PNG answer (-1: mean over heads)' } }),
      },
    },
    async (request, reply) => {
      const { img, fields } = await oneImage(app, request);
      const modelId = modelOf(app, request, fields);
      const dense = intField(fields, 'dense', 224, 14, 1036)!;
      const head = intField(fields, 'head', -1, -1, 1024)!;
      const att = await pool.use(modelId, (model) => new AttentionMaps(model).clsAttention(batchTensors([denseTransform(img, { shorterSide: dense, patchSize: model.patchSize })])));
      const [h, w] = att.grid;
      const N = h * w;
      const maps = Array.from({ length: att.heads }, (_, k) => att.patches.data.subarray(k * N, (k + 1) * N));
      if (head >= att.heads) throw new HttpError(400, `head ${head} is out of range: the model has ${att.heads} heads`);
      const chosen = head >= 0 ? maps[head]! : Float32Array.from({ length: N }, (_, i) => maps.reduce((s, m) => s + m[i]!, 0) / att.heads);
      const [lo, hi] = finiteRange(chosen);
      const colours = applyColormap(chosen, 'turbo', lo, hi);
      const scaled = new Float32Array(N * 3);
      for (let i = 0; i < N * 3; i++) scaled[i] = colours[i]! / 255;
      const png = await pngOf(img.width, img.height, patchMapToImage(scaled, h, w, img.width, img.height));
      return answerPicture(request, reply, png, {
        model: modelId,
        width: img.width,
        height: img.height,
        grid: att.grid,
        heads: att.heads,
        maps: maps.map((m) => Array.from(m)),
        registers: Array.from({ length: att.heads }, (_, k) => Array.from(att.registers.data.subarray(k * (att.registers.shape[2] ?? 0), (k + 1) * (att.registers.shape[2] ?? 0)))),
      });
    },
  );

  app.post(
    '/v1/classify',
    { schema: { summary: 'Top classes from the server\'s classifier head', tags: ['vision'], body: singleImageBody({ top: { type: 'integer', minimum: 1, maximum: 1000, default: 5 }, size: { type: 'integer', minimum: 14, maximum: 1036, default: 224 } }) } },
    async (request) => {
      const { img, fields } = await oneImage(app, request);
      const top = intField(fields, 'top', 5, 1, 1000)!;
      const size = intField(fields, 'size', 224, 14, 1036)!;
      const predictions = await withHead(
        app,
        request,
        'classify',
        async (model, path) => new LinearClassifier(model, await loadLinearHead(path)),
        async (c, model) => {
          if (size % model.patchSize !== 0) throw new HttpError(400, `size ${size} is not a multiple of the patch size ${model.patchSize}`);
          return (await c.predict(batchTensors([evalTransform(img, { resize: evalResizeFor(size), crop: size })]), top))[0];
        },
      );
      return { model: request.modelId, predictions };
    },
  );

  app.post(
    '/v1/depth',
    { schema: { summary: 'Metric depth from the server\'s depth head (colour-mapped PNG at the image size, plus range)', tags: ['vision'], body: singleImageBody({ size: { type: 'integer', minimum: 14, maximum: 2048, default: 480 } }) } },
    async (request, reply) => {
      const { img, fields } = await oneImage(app, request);
      const size = intField(fields, 'size', 480, 14, 2048)!;
      const depth = (await withHead(
        app,
        request,
        'depth',
        async (model, path) => {
          // The head file (a released head resolved at start, or the operator's file); its weights are read
          // from the file until the head is disposed.
          const { depther: d } = await loadDepther(path, model, headModelOpts(app));
          return { d, dispose: () => d.dispose() };
        },
        async ({ d }) => {
          const short = Math.min(img.width, img.height);
          const scaled = short > size ? resize(img, Math.round((img.width * size) / short), Math.round((img.height * size) / short), 'bicubic') : img;
          let out = await d.predict(normalize(toTensor(scaled)).reshape([1, 3, scaled.height, scaled.width]));
          if (scaled !== img) out = resizeBilinear(out, img.height, img.width, false);
          return out.data;
        },
      )) as Float32Array;
      const [lo, hi] = finiteRange(depth);
      const png = await pngOf(img.width, img.height, applyColormap(depth, 'turbo_r', lo, hi));
      return answerPicture(request, reply, png, { model: request.modelId, width: img.width, height: img.height, min: lo, max: hi, unit: 'metre' });
    },
  );

  app.post(
    '/v1/segment',
    { schema: { summary: 'Semantic segmentation from the server\'s head (palette PNG at the image size, plus classes present)', tags: ['vision'], body: singleImageBody({ size: { type: 'integer', minimum: 14, maximum: 2048, default: 512 }, mode: { type: 'string', enum: ['whole', 'slide'], default: 'whole' } }) } },
    async (request, reply) => {
      const { img, fields } = await oneImage(app, request);
      const size = intField(fields, 'size', 512, 14, 2048)!;
      const mode = enumField(fields, 'mode', ['whole', 'slide'] as const, 'whole');
      const seg = (await withHead(
        app,
        request,
        'segment',
        async (model, path) => {
          const loaded = await loadSegmenter(path, model, headModelOpts(app));
          return { s: loaded.segmenter, dataset: loaded.dataset, dispose: () => loaded.segmenter.dispose() };
        },
        async ({ s, dataset }) => ({ ...(await s.segment(img, { mode, shortSide: size })), dataset }),
      )) as Awaited<ReturnType<Segmenter['segment']>> & { dataset: import('../../heads/segmentation/palettes.js').SegmentationDataset };
      const dataset = seg.dataset;
      const counts = new Map<number, number>();
      for (const l of seg.labels) counts.set(l, (counts.get(l) ?? 0) + 1);
      const classes = [...counts.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([index, pixels]) => ({ index, name: dataset.classes[index] ?? String(index), pixels, fraction: pixels / seg.labels.length, colour: Array.from(dataset.palette.subarray(3 * index, 3 * index + 3)) }));
      const png = await pngOf(seg.width, seg.height, paletteColours(seg.labels, dataset.palette));
      return answerPicture(request, reply, png, { model: request.modelId, width: seg.width, height: seg.height, classes });
    },
  );
}
