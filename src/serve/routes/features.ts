/**
 * POST /v1/features — the backbone's tokens for images (eval transform at `size`; all images share a shape,
 * so they run as one batch): CLS, registers, patch tokens and intermediate layers (`layers`: the last n
 * blocks, or `blocks`: block indices). JSON by default; `Accept: application/vnd.safetensors` gives every array as
 * one safetensors file, `Accept: application/x-npy` one array (`output`, default patch_tokens) as .npy.
 */
import type { App } from '../context.js';
import { HttpError } from '../errors.js';
import { intField, transformAll, requestImages, stringField, wants } from '../requestImages.js';
import { embedTransformSpec } from '../../data/imagePipeline.js';
import { batchTensors } from '../../data/transforms.js';
import { encodeNpy, encodeSafetensors, type NamedArray } from '../binary.js';

export const SAFETENSORS_TYPE = 'application/vnd.safetensors';
export const NPY_TYPE = 'application/x-npy';

function toRows(data: Float32Array, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from(data.subarray(r * cols, (r + 1) * cols)));
}

function layersSpec(v: unknown): number | number[] | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'number') return v;
  if (Array.isArray(v)) return v as number[];
  if (typeof v === 'string') {
    const parts = v.split(',').map((s) => Number(s.trim()));
    if (parts.some((n) => !Number.isInteger(n))) throw new HttpError(400, `layers must be a count or a list of block indices, got ${JSON.stringify(v)}`);
    return parts.length === 1 ? parts[0]! : parts;
  }
  throw new HttpError(400, `layers must be a count or a list of block indices`);
}

export async function featuresRoutes(app: App): Promise<void> {
  app.post(
    '/v1/features',
    {
      schema: {
        summary: 'Backbone tokens: CLS, registers, patch tokens, intermediate layers (JSON, safetensors or npy by Accept)',
        tags: ['features'],
        body: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['input'],
                additionalProperties: false,
                properties: {
                  model: { type: 'string' },
                  input: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }] },
                  size: { type: 'integer', minimum: 14, maximum: 1036, default: 224 },
                  layers: { type: 'integer', minimum: 1, description: 'intermediate layers: the last n blocks' },
                  blocks: { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 1, description: 'intermediate layers: these 0-based blocks' },
                  output: { type: 'string', enum: ['cls', 'registers', 'patch_tokens'], description: 'the array of an .npy answer' },
                },
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const { pool, opts, prep } = app.dinov2;
      const { images, fields } = await requestImages(request, opts);
      const modelId = stringField(fields, 'model') ?? pool.defaultId;
      request.modelId = modelId;
      const size = intField(fields, 'size', 224, 14, 1036)!;
      const blocks = layersSpec(fields['blocks']);
      const layers = blocks === undefined ? layersSpec(fields['layers']) : Array.isArray(blocks) ? blocks : [blocks];
      if (fields['blocks'] !== undefined && fields['layers'] !== undefined) throw new HttpError(400, 'give layers (a count) or blocks (indices), not both');
      const output = stringField(fields, 'output') ?? 'patch_tokens';
      if (!['cls', 'registers', 'patch_tokens'].includes(output)) throw new HttpError(400, `output must be cls, registers or patch_tokens, got '${output}'`);
      if (!pool.has(modelId)) throw new HttpError(404, `unknown model '${modelId}'; this server has ${pool.ids.join(', ')}`, {}, 'model_not_found');
      const p = await pool.use(modelId, async (model) => model.patchSize);
      if (size % p !== 0) throw new HttpError(400, `size ${size} is not a multiple of the patch size ${p} (e.g. ${Math.max(1, Math.round(size / p)) * p})`);
      const decoded = await transformAll(images, opts.maxPixels, prep, embedTransformSpec({ size }, p));
      const result = await pool.use(modelId, async (model) => {
        const x = batchTensors(decoded);
        const out = await model.forwardFeatures(x);
        let inter: { block: number; cls: Float32Array; patch: Float32Array }[] = [];
        if (layers !== undefined) {
          const depth = model.config.depth;
          if (typeof layers === 'number' && (layers < 1 || layers > depth)) throw new HttpError(400, `layers: ${layers} is not a block count from 1 to the model's ${depth} blocks`);
          const indices = typeof layers === 'number' ? Array.from({ length: layers }, (_, i) => depth - layers + i) : layers;
          for (const i of indices) if (!Number.isInteger(i) || i < 0 || i >= depth) throw new HttpError(400, `layers: block ${i} is out of range (the model has ${depth} blocks)`);
          const ls = await model.getIntermediateLayers(x, { n: indices, returnClassToken: true });
          const sorted = [...new Set(indices)].sort((a, b) => a - b);
          inter = ls.map((l, k) => ({ block: sorted[k]!, cls: l.clsToken!.data, patch: l.patchTokens.data }));
        }
        return { out, inter, D: model.embedDim, R: model.numRegisterTokens };
      });
      const { out, inter, D, R } = result;
      const B = decoded.length;
      const [h, w] = out.grid;
      const N = h * w;
      const arrays: NamedArray[] = [
        { name: 'cls', shape: [B, D], data: out.clsToken.data },
        { name: 'registers', shape: [B, R, D], data: out.regTokens.data },
        { name: 'patch_tokens', shape: [B, N, D], data: out.patchTokens.data },
        ...inter.flatMap((l) => [
          { name: `layer${l.block}.cls`, shape: [B, D], data: l.cls },
          { name: `layer${l.block}.patch_tokens`, shape: [B, N, D], data: l.patch },
        ]),
      ];
      if (wants(request, SAFETENSORS_TYPE)) {
        return reply.type(SAFETENSORS_TYPE).send(encodeSafetensors(arrays, { model: modelId, grid: `${h}x${w}`, size: String(size) }));
      }
      if (wants(request, NPY_TYPE)) {
        return reply.type(NPY_TYPE).header('x-dinov2-grid', `${h}x${w}`).send(encodeNpy(arrays.find((a) => a.name === output)!));
      }
      return {
        model: modelId,
        grid: [h, w],
        data: Array.from({ length: B }, (_, b) => ({
          index: b,
          cls: Array.from(out.clsToken.data.subarray(b * D, (b + 1) * D)),
          registers: toRows(out.regTokens.data.subarray(b * R * D, (b + 1) * R * D), R, D),
          patch_tokens: toRows(out.patchTokens.data.subarray(b * N * D, (b + 1) * N * D), N, D),
          layers: inter.map((l) => ({ block: l.block, cls: Array.from(l.cls.subarray(b * D, (b + 1) * D)), patch_tokens: toRows(l.patch.subarray(b * N * D, (b + 1) * N * D), N, D) })),
        })),
      };
    },
  );
}
