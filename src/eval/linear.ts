/**
 * The linear probe of `dinov2/eval/linear.py` (reference §3.3) on frozen, cached features:
 *
 * - a grid of linear classifiers trained simultaneously on the same batches: n_last_blocks ∈ {1, 4} ×
 *   avgpool ∈ {false, true} × learning rates (13 by default); input = CLS of the last n blocks (+ the last
 *   block's mean patch token), see `linearInputs`;
 * - init weight ~ N(0, 0.01), bias 0; SGD, momentum 0.9, weight decay 0, lr · batch / 256; cosine annealing
 *   to 0 over all iterations, stepped per iteration; loss = cross-entropy (mean over the batch) per classifier;
 * - batches drawn from an endless sequence of shuffled passes over the training set; iterations =
 *   epochs × epoch length (default length: one pass, ⌊n / batch⌋);
 * - selection: the classifier with the best validation top-1 (the first one on ties), as the official code.
 *
 * Differences from the official run, on purpose: features come from the evaluation transform (cached once)
 * rather than a fresh RandomResizedCrop + flip per iteration, and n = 4 is skipped for backbones with fewer
 * than 4 blocks (the official code would fail).
 *
 * Compute: one onnxruntime graph does a whole SGD step for L classifiers of one input width: the forward
 * (x · W + b for all L at once, W stacked [L, F, C]), softmax cross-entropy, its analytic gradient
 * (dlogits = (softmax − onehot) / b, dW = xᵀ · dlogits, db = Σ dlogits) and the momentum update. Weights
 * and momentum buffers round-trip through JavaScript each step, so the cost grows with L · F · C: fine
 * for tens of classes, heavy for ImageNet-1k at ViT-g widths.
 */
import { GraphBuilder } from '../graph/builder.js';
import * as op from '../graph/ops.js';
import { compileGraph, type CompiledGraph, type RuntimeOptions } from '../graph/runtime.js';
import { Tensor } from '../core/tensor.js';
import { Rng } from '../core/rng.js';
import { linearInputs, type FeatureSet } from './features.js';
import { argmaxRows, topkAccuracy } from './metrics.js';

export const DEFAULT_LEARNING_RATES: readonly number[] = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1];
export const MOMENTUM = 0.9;

export interface ClassifierSpec {
  /** `classifier_{n}_blocks_avgpool_{avgpool}_lr_{scaled lr}` as the official names them. */
  name: string;
  nLastBlocks: number;
  avgpool: boolean;
  /** The grid value, before scaling. */
  baseLr: number;
  /** lr · batch / 256, the value SGD uses. */
  lr: number;
}

export interface TrainedClassifier extends ClassifierSpec {
  inFeatures: number;
  /** [C, F], PyTorch's Linear layout. */
  weight: Float32Array;
  bias: Float32Array;
  valTop1: number;
  valTop5: number;
  /** Loss of the last training batch. */
  lastLoss: number;
}

export interface LinearProbeOptions {
  learningRates?: readonly number[];
  epochs?: number;
  /** Iterations per epoch (default ⌊n / batch⌋, at least 1). */
  epochLength?: number;
  /** Default 128 (the official per-GPU batch), at most the training-set size. */
  batchSize?: number;
  nLastBlocksList?: readonly number[];
  avgpoolList?: readonly boolean[];
  seed?: number;
  runtime?: RuntimeOptions;
  onIteration?: (iteration: number, total: number, loss: number) => void;
  /** Initial weights instead of N(0, 0.01) / 0 (tests, warm starts). */
  init?: (spec: ClassifierSpec, inFeatures: number, numClasses: number) => { weight: Float32Array; bias: Float32Array };
}

export interface LinearProbeResult {
  classifiers: TrainedClassifier[];
  best: TrainedClassifier;
  iterations: number;
  batchSize: number;
  /** Validation predictions of the best classifier. */
  predictions: Int32Array;
}

/** lr scaled to the batch (`scale_lr` with one process). */
export function scaleLr(lr: number, batchSize: number): number {
  return (lr * batchSize) / 256;
}

/** CosineAnnealingLR(T_max = total, eta_min = 0) at step t (closed form of torch's recursion). */
export function cosineLr(base: number, t: number, total: number): number {
  return (base * (1 + Math.cos((Math.PI * t) / total))) / 2;
}

/** Endless shuffled passes over n items, cut into batches (batches may straddle two passes). */
export function* shuffledBatches(n: number, batch: number, seed: number): Generator<Int32Array> {
  const rng = new Rng(seed);
  let order: number[] = [];
  let pos = 0;
  for (;;) {
    const out = new Int32Array(batch);
    for (let i = 0; i < batch; i++) {
      if (pos === order.length) {
        order = rng.shuffle(Array.from({ length: n }, (_, j) => j));
        pos = 0;
      }
      out[i] = order[pos++]!;
    }
    yield out;
  }
}

/** One SGD step for L stacked classifiers (see the module comment); F and C are symbolic, so one graph serves every group. */
export function buildSgdStepGraph(momentum = MOMENTUM): GraphBuilder {
  const g = new GraphBuilder('linear_probe_sgd_step');
  const x = g.input('x', 'float32', ['b', 'F']);
  const y = g.input('y', 'float32', ['b', 'C']);
  const w = g.input('w', 'float32', ['L', 'F', 'C']);
  const bias = g.input('bias', 'float32', ['L', 1, 'C']);
  const mw = g.input('mw', 'float32', ['L', 'F', 'C']);
  const mb = g.input('mb', 'float32', ['L', 1, 'C']);
  const lr = g.input('lr', 'float32', ['L', 1, 1]);
  const invBatch = g.input('inv_batch', 'float32', [1]);

  const logits = op.add(op.matmul(x, w), bias); // [L, b, C]
  const logp = op.logSoftmax(logits, -1);
  // CrossEntropyLoss(mean): −mean_b Σ_c y·log p, one value per classifier.
  g.output('loss', op.neg(op.reduceMean(op.reduceSum(op.mul(y, logp), [2]), [1])));
  const dlogits = op.mul(op.sub(op.exp(logp), y), invBatch); // ∂loss/∂logits
  const gw = op.matmul(op.transpose(x, [1, 0]), dlogits); // [F, b] · [L, b, C] → [L, F, C]
  const gb = op.reduceSum(dlogits, [1], true); // [L, 1, C]
  // torch.optim.SGD: buf = momentum·buf + grad (the first step's buf = grad equals this from zeros); p -= lr·buf.
  const m = g.scalar(momentum);
  const mw2 = op.add(op.mul(mw, m), gw);
  const mb2 = op.add(op.mul(mb, m), gb);
  g.output('w_next', op.sub(w, op.mul(mw2, lr)));
  g.output('bias_next', op.sub(bias, op.mul(mb2, lr)));
  g.output('mw_next', mw2);
  g.output('mb_next', mb2);
  return g;
}

/** Logits of L stacked classifiers: x [n, F] → [L, n, C]. */
export function buildStackedLogitsGraph(): GraphBuilder {
  const g = new GraphBuilder('linear_probe_logits');
  const x = g.input('x', 'float32', ['n', 'F']);
  const w = g.input('w', 'float32', ['L', 'F', 'C']);
  const bias = g.input('bias', 'float32', ['L', 1, 'C']);
  g.output('logits', op.add(op.matmul(x, w), bias));
  return g;
}

function gatherRows(x: Float32Array, width: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(x.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

function oneHot(labels: Int32Array, rows: Int32Array, C: number): Float32Array {
  const out = new Float32Array(rows.length * C);
  rows.forEach((r, i) => (out[i * C + labels[r]!] = 1));
  return out;
}

/** [C, F] ↔ [F, C]. */
function transpose2d(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

/** A group: classifiers sharing one input layout, trained as one stack. */
interface Group {
  nLastBlocks: number;
  avgpool: boolean;
  specs: ClassifierSpec[];
  x: Float32Array;
  F: number;
  w: Float32Array; // [L, F, C]
  bias: Float32Array; // [L, 1, C]
  mw: Float32Array;
  mb: Float32Array;
  lastLoss: Float32Array;
}

function classifierName(n: number, avgpool: boolean, lr: number): string {
  // Python: f"classifier_{n}_blocks_avgpool_{avgpool}_lr_{lr:.5f}".replace(".", "_")
  return `classifier_${n}_blocks_avgpool_${avgpool ? 'True' : 'False'}_lr_${lr.toFixed(5)}`.replace(/\./g, '_');
}

export async function trainLinearProbe(
  train: FeatureSet,
  trainLabels: Int32Array,
  val: FeatureSet,
  valLabels: Int32Array,
  numClasses: number,
  opts: LinearProbeOptions = {},
): Promise<LinearProbeResult> {
  const n = train.paths.length;
  const C = numClasses;
  if (trainLabels.length !== n) throw new Error(`linear probe: ${trainLabels.length} labels for ${n} training images`);
  if (valLabels.length !== val.paths.length) throw new Error(`linear probe: ${valLabels.length} labels for ${val.paths.length} validation images`);
  if (n === 0 || val.paths.length === 0) throw new Error('linear probe: empty training or validation set');
  const batch = Math.min(opts.batchSize ?? 128, n);
  const epochLength = opts.epochLength ?? Math.max(1, Math.floor(n / batch));
  const total = (opts.epochs ?? 10) * epochLength;
  if (!(total >= 1)) throw new Error(`linear probe: ${total} iterations (epochs × epoch length must be at least 1)`);
  const lrs = opts.learningRates ?? DEFAULT_LEARNING_RATES;
  const blocksList = (opts.nLastBlocksList ?? [1, 4]).filter((b) => b <= train.blocks);
  if (blocksList.length === 0) throw new Error(`linear probe: no usable n_last_blocks (the features hold ${train.blocks})`);
  const rng = new Rng(opts.seed ?? 0);

  const groups: Group[] = [];
  for (const nb of blocksList) {
    for (const avgpool of opts.avgpoolList ?? [false, true]) {
      const { data: x, width: F } = linearInputs(train, nb, avgpool);
      const specs = lrs.map((baseLr) => {
        const lr = scaleLr(baseLr, batch);
        return { name: classifierName(nb, avgpool, lr), nLastBlocks: nb, avgpool, baseLr, lr };
      });
      const L = specs.length;
      const w = new Float32Array(L * F * C);
      const bias = new Float32Array(L * C);
      specs.forEach((spec, l) => {
        if (opts.init) {
          const init = opts.init(spec, F, C);
          w.set(transpose2d(init.weight, C, F), l * F * C);
          bias.set(init.bias, l * C);
        } else {
          // nn.Linear weight [C, F] ~ N(0, 0.01), stored here transposed.
          const wt = Float32Array.from({ length: C * F }, () => 0.01 * rng.normal());
          w.set(transpose2d(wt, C, F), l * F * C);
        }
      });
      groups.push({ nLastBlocks: nb, avgpool, specs, x, F, w, bias, mw: new Float32Array(w.length), mb: new Float32Array(bias.length), lastLoss: new Float32Array(L) });
    }
  }

  const step = await compileGraph(buildSgdStepGraph().build(), opts.runtime);
  const batches = shuffledBatches(n, batch, opts.seed ?? 0);
  try {
    for (let it = 0; it < total; it++) {
      const rows = batches.next().value as Int32Array;
      const y = Tensor.float32(oneHot(trainLabels, rows, C), [batch, C]);
      let lossSum = 0;
      for (const gr of groups) {
        const L = gr.specs.length;
        const lr = Float32Array.from(gr.specs, (s) => cosineLr(s.lr, it, total));
        const out = await step.run({
          x: Tensor.float32(gatherRows(gr.x, gr.F, rows), [batch, gr.F]),
          y,
          w: Tensor.float32(gr.w, [L, gr.F, C]),
          bias: Tensor.float32(gr.bias, [L, 1, C]),
          mw: Tensor.float32(gr.mw, [L, gr.F, C]),
          mb: Tensor.float32(gr.mb, [L, 1, C]),
          lr: Tensor.float32(lr, [L, 1, 1]),
          inv_batch: Tensor.float32([1 / batch], [1]),
        });
        gr.w = (out['w_next'] as Tensor<'float32'>).data;
        gr.bias = (out['bias_next'] as Tensor<'float32'>).data;
        gr.mw = (out['mw_next'] as Tensor<'float32'>).data;
        gr.mb = (out['mb_next'] as Tensor<'float32'>).data;
        gr.lastLoss = (out['loss'] as Tensor<'float32'>).data;
        lossSum += gr.lastLoss.reduce((a, b) => a + b, 0);
      }
      opts.onIteration?.(it + 1, total, lossSum);
    }
  } finally {
    await step.dispose();
  }

  // Validation: every classifier, then the best top-1 (strictly better replaces, so the first wins ties).
  const logitsGraph = await compileGraph(buildStackedLogitsGraph().build(), opts.runtime);
  const classifiers: TrainedClassifier[] = [];
  const predictionsOf = new Map<TrainedClassifier, Int32Array>();
  try {
    for (const gr of groups) {
      const L = gr.specs.length;
      const { data: vx } = linearInputs(val, gr.nLastBlocks, gr.avgpool);
      const logits = await stackedLogits(logitsGraph, vx, gr.F, gr.w, gr.bias, L, C);
      gr.specs.forEach((spec, l) => {
        const nv = valLabels.length;
        const scores = logits[l]!;
        const acc = topkAccuracy(scores, valLabels, C);
        const wl = gr.w.subarray(l * gr.F * C, (l + 1) * gr.F * C);
        const trained: TrainedClassifier = {
          ...spec,
          inFeatures: gr.F,
          weight: transpose2d(wl, gr.F, C),
          bias: gr.bias.slice(l * C, (l + 1) * C),
          valTop1: acc.top1,
          valTop5: acc.top5,
          lastLoss: gr.lastLoss[l]!,
        };
        classifiers.push(trained);
        predictionsOf.set(trained, argmaxRows(scores, nv, C));
      });
    }
  } finally {
    await logitsGraph.dispose();
  }
  let best = classifiers[0]!;
  for (const c of classifiers) if (c.valTop1 > best.valTop1) best = c;
  return { classifiers, best, iterations: total, batchSize: batch, predictions: predictionsOf.get(best)! };
}

/** Logits [n, C] of each of L stacked classifiers on inputs x [n, F], in chunks of rows. */
async function stackedLogits(graph: CompiledGraph, x: Float32Array, F: number, w: Float32Array, bias: Float32Array, L: number, C: number): Promise<Float32Array[]> {
  const n = x.length / F;
  const out = Array.from({ length: L }, () => new Float32Array(n * C));
  const chunk = Math.max(1, Math.floor((1 << 22) / (L * C)));
  for (let s = 0; s < n; s += chunk) {
    const e = Math.min(n, s + chunk);
    const r = await graph.run({
      x: Tensor.float32(x.subarray(s * F, e * F), [e - s, F]),
      w: Tensor.float32(w, [L, F, C]),
      bias: Tensor.float32(bias, [L, 1, C]),
    });
    const logits = (r['logits'] as Tensor<'float32'>).data; // [L, e - s, C]
    for (let l = 0; l < L; l++) out[l]!.set(logits.subarray(l * (e - s) * C, (l + 1) * (e - s) * C), s * C);
  }
  return out;
}
