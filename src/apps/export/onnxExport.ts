/**
 * A standalone ONNX model of a backbone: it runs in any onnxruntime (Node, Python, the browser) without this
 * library, because the position-embedding interpolation is part of the graph — baked as two constant
 * matrices for a fixed input size, or computed from the run-time height and width (posEmbedInGraph.ts).
 * Unlike the official exporter, this also works for the registers models (antialiased interpolation).
 *
 * The model:
 * - input `pixel_values` float32 [batch, 3, H, W], normalised as the eval transform does (H, W multiples of
 *   the patch size; fixed, or symbolic `height`/`width` with `dynamic`);
 * - outputs (`outputs: 'features'`, the default) as the official `forward_features` dict names them:
 *   `x_norm_clstoken` [B, D], `x_norm_regtokens` [B, R, D] (R = 0 without registers), `x_norm_patchtokens`
 *   [B, N, D] row-major over the (H/14)×(W/14) grid, `x_prenorm` [B, 1+R+N, D];
 *   or (`outputs: 'hidden'`, the transformers convention) `last_hidden_state` [B, 1+R+N, D] (final norm
 *   applied) and `pooler_output` [B, D] (its CLS token).
 * Weights are stored in `dtype` (float16/bfloat16 halve the file) and cast to float32 inside the graph, so
 * compute is float32 either way. Models up to `EXTERNAL_DATA_ABOVE` bytes are one self-contained `.onnx`
 * file; larger ones put their weights in `<name>.onnx.data` beside it (protobuf cannot exceed 2 GB).
 */
import { basename, dirname, resolve } from 'node:path';
import { GraphBuilder, type Sym } from '../../graph/builder.js';
import type { GraphIR } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import { writeOnnx } from '../../graph/onnx.js';
import { block, layerNorm } from '../../models/layers/block.js';
import { posEmbedGrid, type BackboneConfig } from '../../models/config.js';
import { posEmbedInterpolation } from '../../models/interpolatePosEmbed.js';
import { detectConfig } from '../../models/load.js';
import { backboneStateDictShapes } from '../../models/stateDictShapes.js';
import { prepareTokens } from '../../models/visionTransformer.js';
import { storeFromSource, weightScope, type WeightStore } from '../../models/weightStore.js';
import { checkStateDict, openWeights } from '../../formats/open.js';
import type { WeightSource } from '../../formats/types.js';
import { posEmbedMatricesInGraph } from './posEmbedInGraph.js';

export const INPUT_NAME = 'pixel_values';
/** Above this many bytes of weights the model is written with external data. */
export const EXTERNAL_DATA_ABOVE = 2 ** 30;

export type OnnxWeightDtype = 'f32' | 'f16' | 'bf16';

export interface OnnxExportOptions {
  /** Fixed input size in pixels (both required unless `dynamic`). */
  height?: number;
  width?: number;
  /** Symbolic height and width; the interpolation is computed in the graph. */
  dynamic?: boolean;
  /** Storage type of the weights (default 'f32'). */
  dtype?: OnnxWeightDtype;
  outputs?: 'features' | 'hidden';
  /** Force external data (true) or a single file (false); default by size. */
  externalData?: boolean;
  /** Graph name stored in the file. */
  name?: string;
}

/** Interpolation matrices for one input size, as constants (computed by the library's own kernels). */
function bakedMatrices(g: GraphBuilder, cfg: BackboneConfig, height: number, width: number): { rows: Sym; cols: Sym } {
  const M = posEmbedGrid(cfg);
  const m = posEmbedInterpolation(height, width, {
    patchSize: cfg.patch_size,
    grid: M,
    antialias: cfg.interpolate_antialias,
    offset: cfg.interpolate_offset,
  });
  const constant = (name: string, values: Float32Array, n: number): Sym =>
    g.initializer(name, 'float32', [n, M], { bytes: async () => new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
  return { rows: constant('pos_embed_rows', m.rows, m.h0), cols: constant('pos_embed_cols', m.cols, m.w0) };
}

function checkSize(cfg: BackboneConfig, what: string, size: number | undefined): number {
  const p = cfg.patch_size;
  if (size === undefined || !Number.isInteger(size) || size <= 0 || size % p !== 0) {
    throw new Error(`ONNX export: ${what} must be a positive multiple of the patch size ${p} (or use a dynamic export), got ${size}`);
  }
  return size;
}

/** Builds the standalone graph (no file is written). */
export function buildExportGraph(cfg: BackboneConfig, store: WeightStore, opts: OnnxExportOptions = {}): GraphIR {
  const g = new GraphBuilder(opts.name ?? 'dinov2');
  const storage = ({ f32: 'float32', f16: 'float16', bf16: 'bfloat16' } as const)[opts.dtype ?? 'f32'];
  const p = weightScope(g, store, { storage });
  let pos: { rows: Sym; cols: Sym };
  let pixels: Sym;
  if (opts.dynamic) {
    if (opts.height !== undefined || opts.width !== undefined) throw new Error('ONNX export: give either a fixed height and width or dynamic, not both');
    pixels = g.input(INPUT_NAME, 'float32', ['batch', cfg.in_chans, 'height', 'width']);
    pos = posEmbedMatricesInGraph(pixels, cfg);
  } else {
    const H = checkSize(cfg, 'height', opts.height);
    const W = checkSize(cfg, 'width', opts.width);
    pixels = g.input(INPUT_NAME, 'float32', ['batch', cfg.in_chans, H, W]);
    pos = bakedMatrices(g, cfg, H, W);
  }
  let x = prepareTokens(g, cfg, p, null, { pixels, ...pos });
  const blockOptions = { numHeads: cfg.num_heads, swiglu: cfg.ffn_layer !== 'mlp', eps: cfg.layer_norm_eps };
  for (let i = 0; i < cfg.depth; i++) x = block(x, p.scope(`blocks.${i}`), blockOptions);
  const normed = layerNorm(x, p.scope('norm'), cfg.layer_norm_eps);
  const R = cfg.num_register_tokens;
  const cls = op.squeeze(op.slice(normed, 1, 0, 1), [1]);
  if ((opts.outputs ?? 'features') === 'hidden') {
    g.output('last_hidden_state', normed);
    g.output('pooler_output', cls);
  } else {
    g.output('x_norm_clstoken', cls);
    g.output('x_norm_regtokens', op.slice(normed, 1, 1, 1 + R));
    g.output('x_norm_patchtokens', op.slice(normed, 1, 1 + R, op.TO_END));
    g.output('x_prenorm', x);
  }
  return g.build();
}

/** `<dir>/<name>.onnx` for an output path given with or without the extension. */
export function onnxOutputPath(out: string): { dir: string; name: string; path: string } {
  const abs = resolve(out);
  const name = basename(abs).replace(/\.onnx$/i, '');
  return { dir: dirname(abs), name, path: resolve(dirname(abs), `${name}.onnx`) };
}

function weightBytes(store: WeightStore, dtype: OnnxWeightDtype): number {
  let total = 0;
  for (const w of store.values()) total += w.shape.reduce((a, b) => a * b, 1) * (dtype === 'f32' ? 4 : 2);
  return total;
}

/** Writes the graph for `cfg` and `store`; returns the path of the `.onnx` file. */
export async function exportStoreToOnnx(cfg: BackboneConfig, store: WeightStore, out: string, opts: OnnxExportOptions = {}): Promise<string> {
  const ir = buildExportGraph(cfg, store, opts);
  const { dir, name } = onnxOutputPath(out);
  const external = opts.externalData ?? weightBytes(store, opts.dtype ?? 'f32') > EXTERNAL_DATA_ABOVE;
  // No hard links to the checkpoint: the result must stand alone.
  return writeOnnx(ir, dir, name, { externalThreshold: external ? 1024 : Infinity, linkExtents: false, producer: 'dinov2-ts' });
}

/** Exports a checkpoint (path or opened source: .pth, .safetensors, HF folder) as a standalone ONNX model. */
export async function exportOnnx(checkpoint: string | WeightSource, out: string, opts: OnnxExportOptions & { config?: Partial<BackboneConfig> } = {}): Promise<string> {
  const source = typeof checkpoint === 'string' ? await openWeights(checkpoint) : checkpoint;
  try {
    const cfg = detectConfig(source, opts.config);
    const expected = backboneStateDictShapes(cfg);
    checkStateDict(source, expected, { ignoreUnexpected: (key) => /^(classifier|dino_head|ibot_head|head)\./.test(key) });
    return await exportStoreToOnnx(cfg, storeFromSource(source, expected.keys()), out, opts);
  } finally {
    if (typeof checkpoint === 'string') await source.close();
  }
}
