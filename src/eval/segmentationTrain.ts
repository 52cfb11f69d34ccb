/**
 * Training a linear segmentation head on a frozen backbone, after the official linear-head recipe (reference
 * §2.7): AdamW (lr 1e-3, weight decay 1e-4, betas 0.9/0.999), poly schedule (power 1, min 0) after a linear
 * warm-up from 1e-6 of the rate over the first 3.75 % of iterations (1500 of 40k officially), conv_seg
 * initialised N(0, 0.01), per-pixel cross-entropy on logits upsampled bilinearly from the patch grid, label
 * 255 ignored.
 *
 * Choices made for a CPU tool, and why:
 * - Backbone features are computed once (every image resized to size × size, a multiple of the patch size)
 *   and kept in memory; the backbone is frozen, so this changes nothing but the cost. No random crops or
 *   flips: the features would have to be recomputed for each.
 * - BatchNorm: its statistics are the mean and variance of the training features, computed once, with weight
 *   1 and bias 0; only conv_seg is trained. A per-channel affine before a 1×1 convolution is absorbed by the
 *   convolution, so training BN's weight and bias as well adds no expressiveness, and fixed statistics make
 *   the head the same in training and evaluation.
 * - The loss is taken on a label grid 4× the patch grid (labels nearest-downsampled from the mask, logits
 *   upsampled bilinearly as the head does at test time), not at full image resolution: bilinear
 *   upsampling of a logit map adds no detail finer than the patch grid, so the per-pixel loss at 4× is a
 *   close sample of the full-resolution one, while its one-hot and log-probability tensors are (14/4)² ≈ 12×
 *   smaller. Structures thinner than 14/4 px in the mask are lost to the downsampling.
 * The gradient comes from the graph's reverse-mode autodiff (src/graph/autodiff.ts).
 */
import { AdamW } from '../train/optim/adamw.js';
import { ParamStore } from '../train/optim/paramStore.js';
import { gradients } from '../graph/autodiff.js';
import { GraphBuilder } from '../graph/builder.js';
import type { GraphIR } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import { compileGraph, type RuntimeOptions } from '../graph/runtime.js';
import { bilinearTaps } from '../heads/resize.js';
import type { RgbImage } from '../data/image.js';
import { resize } from '../data/resample.js';
import { normalize, toTensor } from '../data/transforms.js';
import type { Dinov2 } from '../models/dinov2.js';
import { storedFloat32, type WeightStore } from '../models/weightStore.js';
import { Tensor } from '../core/tensor.js';
import { Rng } from '../core/rng.js';
import type { TensorItem } from '../formats/tensorItem.js';
import { Segmenter } from '../heads/segmentation/segmenter.js';
import { BN_EPS, segOutIndex, type LinearSegHeadConfig } from '../heads/segmentation/linearHead.js';
import { ConfusionMatrix, type SegMetrics } from './segmentationMetrics.js';

export const IGNORE_INDEX = 255;
/** Label grid = LABEL_UPSAMPLE × the patch grid (see the module comment). */
export const LABEL_UPSAMPLE = 4;

export interface SegSample {
  name: string;
  image: RgbImage;
  /** Class per pixel of the image (row-major), IGNORE_INDEX for unlabelled pixels. */
  labels: Uint16Array;
}

export interface SegTrainOptions {
  numClasses: number;
  /** Training resolution (square, a multiple of the patch size). Default 448. */
  size?: number;
  /** Last blocks concatenated: 1 (linear head) or 4 (ms-style). Default 1. */
  layers?: number;
  iters?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  warmupIters?: number;
  seed?: number;
  /** Images per backbone call while extracting features. */
  featureBatch?: number;
  runtime?: RuntimeOptions;
  onProgress?: (event: { phase: 'features' | 'train' | 'eval'; done: number; total: number; loss?: number; lr?: number }) => void;
}

export interface TrainedSegHead {
  config: LinearSegHeadConfig;
  /** The head's state dict under the official keys (`decode_head.bn.*`, `decode_head.conv_seg.*`). */
  tensors: TensorItem[];
  size: number;
  losses: number[];
  val?: SegMetrics;
}

/** Labels resized by nearest neighbour (source index ⌊dst · in / out⌋, as mmseg and PyTorch's 'nearest'). */
export function resizeLabelsNearest(labels: Uint16Array, width: number, height: number, outW: number, outH: number): Uint16Array {
  const out = new Uint16Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    const sy = Math.min(height - 1, Math.floor((y * height) / outH));
    for (let x = 0; x < outW; x++) out[y * outW + x] = labels[sy * width + Math.min(width - 1, Math.floor((x * width) / outW))]!;
  }
  return out;
}

/** mmcv's PolyLrUpdaterHook with linear warm-up: lr at iteration `it` (0-based). */
export function polyLr(it: number, iters: number, base: number, warmupIters: number, warmupRatio = 1e-6, power = 1, minLr = 0): number {
  const regular = (base - minLr) * (1 - it / iters) ** power + minLr;
  if (it >= warmupIters) return regular;
  const k = (1 - it / warmupIters) * (1 - warmupRatio);
  return regular * (1 - k);
}

interface FeatureSet {
  /** [C, h, w] per image: the selected blocks' final-normed patch maps, concatenated in block order. */
  feats: Float32Array[];
  samples: SegSample[];
}

async function extractFeatures(backbone: Dinov2, samples: readonly SegSample[], size: number, layers: number, opts: SegTrainOptions, phase: 'features' | 'eval'): Promise<FeatureSet> {
  const outIndex = segOutIndex(backbone.config.depth, layers);
  const per = opts.featureBatch ?? 4;
  const feats: Float32Array[] = [];
  for (let start = 0; start < samples.length; start += per) {
    const chunk = samples.slice(start, start + per);
    const x = Tensor.stack(chunk.map((s) => normalize(toTensor(resize(s.image, size, size, 'bicubic')))));
    const maps = await backbone.getIntermediateLayers(x, { n: outIndex, reshape: true, norm: true });
    const joined = maps.length === 1 ? maps[0]!.patchTokens : Tensor.concat(maps.map((m) => m.patchTokens), 1);
    for (let b = 0; b < chunk.length; b++) feats.push(joined.slice(0, b, b + 1).data);
    opts.onProgress?.({ phase, done: Math.min(start + per, samples.length), total: samples.length });
  }
  return { feats, samples: [...samples] };
}

/** Per-channel mean and (unbiased) variance over every position of every map. */
function channelStats(feats: readonly Float32Array[], C: number): { mean: Float32Array; variance: Float32Array } {
  const plane = feats[0]!.length / C;
  const sum = new Float64Array(C);
  const sq = new Float64Array(C);
  for (const f of feats) {
    for (let c = 0; c < C; c++) {
      for (let i = c * plane; i < (c + 1) * plane; i++) {
        sum[c]! += f[i]!;
        sq[c]! += f[i]! * f[i]!;
      }
    }
  }
  const n = feats.length * plane;
  const mean = new Float32Array(C);
  const variance = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    mean[c] = sum[c]! / n;
    variance[c] = Math.max(0, (sq[c]! - (sum[c]! * sum[c]!) / n) / Math.max(1, n - 1));
  }
  return { mean, variance };
}

/** Interpolation matrix [out, in] of PyTorch's bilinear resize (align_corners=False) along one axis. */
function bilinearMatrix(inSize: number, outSize: number): number[] {
  const t = bilinearTaps(inSize, outSize, false);
  const m = new Array<number>(outSize * inSize).fill(0);
  for (let o = 0; o < outSize; o++) {
    m[o * inSize + t.i0[o]!]! += t.w0[o]!;
    m[o * inSize + t.i1[o]!]! += t.w1[o]!;
  }
  return m;
}

/**
 * Loss and gradient graph: feats [B, C, h, w], labels int64 [B, 1, 4h, 4w], weight [K, C], bias [K] →
 * `loss` (mean cross-entropy over labelled pixels), `grad_weight`, `grad_bias`. The upsampling is written as
 * two products with interpolation matrices, which the autodiff differentiates.
 */
export function buildSegTrainGraph(C: number, K: number, h: number, w: number, mean: Float32Array, variance: Float32Array): GraphIR {
  const g = new GraphBuilder('seg_train');
  const H = LABEL_UPSAMPLE * h;
  const W = LABEL_UPSAMPLE * w;
  const feats = g.input('feats', 'float32', ['batch', C, h, w]);
  const labels = g.input('labels', 'int64', ['batch', 1, H, W]);
  const weight = g.input('weight', 'float32', [K, C]);
  const bias = g.input('bias', 'float32', [K]);
  const invStd = Array.from(variance, (v) => 1 / Math.sqrt(v + BN_EPS));
  const normed = op.mul(op.sub(feats, g.constant('float32', [1, C, 1, 1], Array.from(mean))), g.constant('float32', [1, C, 1, 1], invStd));
  const flat = op.reshape(normed, [0, C, h * w]);
  const logits = op.reshape(op.add(op.matmul(weight, flat), op.reshape(bias, [K, 1])), [0, K, h, w]);
  const rows = g.constant('float32', [H, h], bilinearMatrix(h, H));
  const colsT = g.constant('float32', [w, W], (() => {
    const m = bilinearMatrix(w, W);
    return Array.from({ length: w * W }, (_, i) => m[(i % W) * w + Math.floor(i / W)]!);
  })());
  const up = op.matmul(op.matmul(rows, logits), colsT);
  const logp = op.logSoftmax(up, 1);
  const classes = g.constant('int64', [1, K, 1, 1], Array.from({ length: K }, (_, k) => k));
  const onehot = op.cast(op.equal(labels, classes), 'float32');
  const all = [0, 1, 2, 3];
  const count = op.maximum(op.reduceSum(onehot, all), g.scalar(1));
  const loss = op.div(op.neg(op.reduceSum(op.mul(onehot, logp), all)), count);
  const grads = gradients(g, loss, [weight, bias]);
  g.output('loss', loss);
  g.output('grad_weight', grads.get(weight.name)!);
  g.output('grad_bias', grads.get(bias.name)!);
  return g.build();
}

function checkLabels(s: SegSample, K: number): void {
  if (s.labels.length !== s.image.width * s.image.height) {
    throw new Error(`${s.name}: the mask has ${s.labels.length} pixels but the image is ${s.image.width}×${s.image.height}`);
  }
  for (let i = 0; i < s.labels.length; i++) {
    const l = s.labels[i]!;
    if (l >= K && l !== IGNORE_INDEX) throw new Error(`${s.name}: label ${l} at pixel ${i % s.image.width},${Math.floor(i / s.image.width)} is not below the ${K} classes (255 = ignore)`);
  }
}

/** The trained head's tensors under the official keys. */
function headTensors(weight: Float32Array, bias: Float32Array, mean: Float32Array, variance: Float32Array, K: number, C: number): TensorItem[] {
  return [
    { key: 'decode_head.conv_seg.weight', dtype: 'F32', shape: [K, C, 1, 1], data: weight },
    { key: 'decode_head.conv_seg.bias', dtype: 'F32', shape: [K], data: bias },
    { key: 'decode_head.bn.weight', dtype: 'F32', shape: [C], data: new Float32Array(C).fill(1) },
    { key: 'decode_head.bn.bias', dtype: 'F32', shape: [C], data: new Float32Array(C) },
    { key: 'decode_head.bn.running_mean', dtype: 'F32', shape: [C], data: mean },
    { key: 'decode_head.bn.running_var', dtype: 'F32', shape: [C], data: variance },
    { key: 'decode_head.bn.num_batches_tracked', dtype: 'I64', shape: [], data: new Uint8Array(8) },
  ];
}

/** A weight store for the head graph from the trained tensors (float ones only). */
export function storeFromItems(items: readonly TensorItem[]): WeightStore {
  const store: WeightStore = new Map();
  for (const t of items) if (t.dtype === 'F32' && t.data instanceof Float32Array) store.set(t.key, storedFloat32(t.shape, t.data));
  return store;
}

/** mIoU of a head on samples, evaluated at size × size (labels resized by nearest neighbour). */
async function evaluate(segmenter: Segmenter, set: FeatureSet, size: number, grid: number, K: number, D: number): Promise<SegMetrics> {
  const cm = new ConfusionMatrix(K);
  const layers = segmenter.config.layers;
  for (let i = 0; i < set.feats.length; i++) {
    const maps = Array.from({ length: layers }, (_, l) => Tensor.float32(set.feats[i]!.subarray(l * D * grid * grid, (l + 1) * D * grid * grid), [1, D, grid, grid]));
    const logits = await segmenter.headLogits(maps, size, size);
    const plane = size * size;
    const pred = new Uint16Array(plane);
    for (let p = 0; p < plane; p++) {
      let best = 0;
      for (let k = 1; k < K; k++) if (logits.data[k * plane + p]! > logits.data[best * plane + p]!) best = k;
      pred[p] = best;
    }
    const s = set.samples[i]!;
    cm.add(pred, resizeLabelsNearest(s.labels, s.image.width, s.image.height, size, size), IGNORE_INDEX);
  }
  return cm.metrics();
}

export async function trainLinearSegHead(backbone: Dinov2, train: readonly SegSample[], val: readonly SegSample[], opts: SegTrainOptions): Promise<TrainedSegHead> {
  const K = opts.numClasses;
  const size = opts.size ?? 448;
  const layers = opts.layers ?? 1;
  const patch = backbone.patchSize;
  if (!Number.isInteger(K) || K < 2 || K > IGNORE_INDEX) throw new Error(`segment-train: the number of classes must be 2–255, got ${K}`);
  if (size % patch !== 0 || size <= 0) throw new Error(`segment-train: size ${size} must be a positive multiple of the patch size ${patch}`);
  if (train.length === 0) throw new Error('segment-train: no training images');
  for (const s of [...train, ...val]) checkLabels(s, K);
  const iters = opts.iters ?? 1000;
  const lr = opts.lr ?? 1e-3;
  const warmup = opts.warmupIters ?? Math.round(iters * (1500 / 40000));
  const batch = Math.min(opts.batchSize ?? 8, train.length);
  const D = backbone.embedDim;
  const C = D * layers;
  const grid = size / patch;
  const L = LABEL_UPSAMPLE * grid;

  const trainSet = await extractFeatures(backbone, train, size, layers, opts, 'features');
  const { mean, variance } = channelStats(trainSet.feats, C);
  const labelGrids = train.map((s) => resizeLabelsNearest(s.labels, s.image.width, s.image.height, L, L));

  const rng = new Rng(opts.seed ?? 0);
  // The project's one AdamW (train/optim), over the head's two tensors; weight decay on both, as mmseg's AdamW.
  const W = 'decode_head.conv_seg.weight';
  const B = 'decode_head.conv_seg.bias';
  const store = ParamStore.create(
    [
      { name: W, shape: [K, C], data: Float32Array.from({ length: K * C }, () => 0.01 * rng.normal()) },
      { name: B, shape: [K] },
    ],
    { groups: { layerwiseDecay: 1, patchEmbedLrMult: 1 } },
  );
  const optim = new AdamW(store, opts.runtime ? { runtime: opts.runtime } : {});
  const weightDecay = opts.weightDecay ?? 1e-4;
  const graph = await compileGraph(buildSegTrainGraph(C, K, grid, grid, mean, variance), opts.runtime);
  const losses: number[] = [];
  try {
    let order: number[] = [];
    const plane = C * grid * grid;
    for (let it = 0; it < iters; it++) {
      const picks: number[] = [];
      while (picks.length < batch) {
        if (order.length === 0) {
          order = rng.shuffle(train.map((_, i) => i));
        }
        picks.push(order.pop()!);
      }
      const feats = new Float32Array(batch * plane);
      const labels = new BigInt64Array(batch * L * L);
      picks.forEach((k, b) => {
        feats.set(trainSet.feats[k]!, b * plane);
        const grid2 = labelGrids[k]!;
        for (let i = 0; i < grid2.length; i++) labels[b * L * L + i] = BigInt(grid2[i]!);
      });
      const rate = polyLr(it, iters, lr, warmup);
      const out = await graph.run({
        feats: Tensor.float32(feats, [batch, C, grid, grid]),
        labels: new Tensor('int64', labels, [batch, 1, L, L]),
        weight: Tensor.float32(store.param(W), [K, C]),
        bias: Tensor.float32(store.param(B), [K]),
      });
      const loss = (out['loss']!.data as Float32Array)[0]!;
      if (!Number.isFinite(loss)) throw new Error(`segment-train: the loss became ${loss} at iteration ${it}; try a lower --lr`);
      losses.push(loss);
      store.setGrad(W, out['grad_weight']!.data as Float32Array);
      store.setGrad(B, out['grad_bias']!.data as Float32Array);
      await optim.step(store.groups.map(() => ({ lr: rate, weightDecay })));
      opts.onProgress?.({ phase: 'train', done: it + 1, total: iters, loss, lr: rate });
    }
  } finally {
    await graph.dispose();
    await optim.dispose();
  }

  const config: LinearSegHeadConfig = { embedDim: D, layers, numClasses: K, bnEps: BN_EPS };
  const tensors = headTensors(store.param(W).slice(), store.param(B).slice(), mean, variance, K, C);
  const result: TrainedSegHead = { config, tensors, size, losses };
  if (val.length > 0) {
    const valSet = await extractFeatures(backbone, val, size, layers, opts, 'eval');
    const segmenter = new Segmenter(backbone, config, storeFromItems(tensors), opts.runtime);
    try {
      result.val = await evaluate(segmenter, valSet, size, grid, K, D);
    } finally {
      await segmenter.dispose();
    }
  }
  return result;
}
