/**
 * Stochastic depth for the student backbone: which samples skip which residual branch, decided on the host
 * from an Rng and handed to the training graph as inputs (a graph has no randomness of its own, and inputs
 * keep one compiled graph valid for every draw).
 *
 * Official behaviour (dinov2/models/vision_transformer.py, dinov2/layers/block.py):
 * - per-block rate: `drop_path_rate` for every block when `drop_path_uniform`, else
 *   `np.linspace(0, drop_path_rate, depth)`;
 * - training takes the student's crops as a list (global, local), i.e. `NestedTensorBlock.forward_nested`:
 *   for every block with rate > 0, each residual branch (attention, then MLP) runs on a random subset of
 *   each crop set's batch — `max(int(B·(1 − rate)), 1)` rows of `randperm(B)` — and its output is added
 *   back to those rows scaled by B / subset (`drop_add_residual_stochastic_depth_list`);
 * - a single tensor in training (`Block.forward`) uses the same subset scheme when rate > 0.1, and per-sample
 *   DropPath below that (keep each sample with probability 1 − rate, scale kept ones by 1 / (1 − rate));
 * - the teacher and evaluation never drop.
 *
 * Draws use the project's Rng, not torch's generator, so the choices are not torch's — only their law is.
 *
 * How a graph uses a subset decision, for x [B, N, D] and residual branch f (see `addResidualOnSubset`):
 *   xs    = Gather(x, indices)                      [S, N, D]   the rows that keep the branch
 *   r     = f(xs) · scale                           [S, N, D]   (LayerScale, if any, inside f)
 *   table = Concat(zeros[1, N, D], r)               [S + 1, N, D]
 *   out   = x + Gather(table, inverse)              [B, N, D]   inverse[b] = 1 + position of b in indices, 0 if dropped
 * which is torch.index_add(x, 0, brange, f(xs), alpha=B/S) built from Gather / Concat only (whose gradients
 * the autodiff has). A mask decision is `out = x + f(x) · factors`, factors [B, 1, 1].
 */
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import { Tensor } from '../../core/tensor.js';
import { linspace } from '../../core/pythonMath.js';
import type { Rng } from '../../core/rng.js';

/** The per-block rates `dpr` of the official ViT constructor. */
export function blockDropRates(rate: number, depth: number, uniform: boolean): number[] {
  if (!Number.isFinite(rate) || rate < 0 || rate > 1) throw new Error(`drop path: rate must be in [0, 1], got ${rate}`);
  if (!Number.isSafeInteger(depth) || depth < 0) throw new Error(`drop path: depth must be a non-negative integer, got ${depth}`);
  return uniform ? new Array<number>(depth).fill(rate) : [...linspace(0, rate, depth)];
}

/** `max(int(B · (1 − rate)), 1)`: Python's int() truncates the float64 product. */
export function subsetSize(batch: number, rate: number): number {
  return Math.max(Math.trunc(batch * (1 - rate)), 1);
}

export interface SubsetDecision {
  kind: 'subset';
  batch: number;
  /** The rows that go through the branch, in draw order (`randperm(B)[:S]`). */
  indices: readonly number[];
  /** For each row b: 1 + its position in `indices`, or 0 when b skips the branch. */
  inverse: readonly number[];
  /** B / S, the factor on the kept rows' residual (`residual_scale_factor`). */
  scale: number;
}

export interface MaskDecision {
  kind: 'mask';
  batch: number;
  /** Per sample: 0 when dropped, else f32(1 / f32(keep)) — `bernoulli_(keep).div_(keep)` (all 0 when keep = 0). */
  factors: Float32Array;
}

export interface KeepAllDecision {
  kind: 'none';
  batch: number;
}

export type DropDecision = SubsetDecision | MaskDecision | KeepAllDecision;

function checkBatch(batch: number): void {
  if (!Number.isSafeInteger(batch) || batch < 1) throw new Error(`drop path: batch must be a positive integer, got ${batch}`);
}

/** A random subset for one residual branch of one crop set (`get_branges_scales`). */
export function sampleSubset(rng: Rng, batch: number, rate: number): SubsetDecision {
  checkBatch(batch);
  const size = subsetSize(batch, rate);
  const perm = rng.shuffle(Array.from({ length: batch }, (_, i) => i));
  const indices = perm.slice(0, size);
  const inverse = new Array<number>(batch).fill(0);
  indices.forEach((b, k) => (inverse[b] = k + 1));
  return { kind: 'subset', batch, indices, inverse, scale: batch / size };
}

/** Per-sample keep factors for one DropPath call (`drop_path` in dinov2/layers/drop_path.py). */
export function sampleMask(rng: Rng, batch: number, rate: number): MaskDecision {
  checkBatch(batch);
  const keep = 1 - rate;
  const factor = keep > 0 ? Math.fround(1 / Math.fround(keep)) : 0;
  const factors = new Float32Array(batch);
  for (let b = 0; b < batch; b++) factors[b] = rng.next() < keep ? factor : 0;
  return { kind: 'mask', batch, factors };
}

export interface BlockDropDecisions {
  rate: number;
  /** One decision per crop set, for the attention branch and for the MLP branch. */
  attn: DropDecision[];
  ffn: DropDecision[];
}

export interface DropPathPlanOptions {
  /** Per-block rates (`blockDropRates`). */
  rates: readonly number[];
  /** Batch size of each crop set, e.g. [global, local] for the student's list input. */
  batchSizes: readonly number[];
  /** true (default): the list-input training path (subsets for every rate > 0); false: `Block.forward`. */
  nested?: boolean;
}

/**
 * Every decision of one student forward, drawn in the official order: block by block, attention branch
 * then MLP branch, crop set by crop set within a branch.
 */
export function planDropPath(rng: Rng, options: DropPathPlanOptions): BlockDropDecisions[] {
  const nested = options.nested ?? true;
  if (!nested && options.batchSizes.length !== 1) throw new Error('drop path: a single-tensor forward has one batch size');
  options.batchSizes.forEach(checkBatch);
  const draw = (rate: number): DropDecision[] =>
    options.batchSizes.map((batch) => {
      if (rate <= 0) return { kind: 'none', batch };
      if (nested || rate > 0.1) return sampleSubset(rng, batch, rate);
      return sampleMask(rng, batch, rate);
    });
  return options.rates.map((rate) => {
    const attn = draw(rate);
    const ffn = draw(rate);
    return { rate, attn, ffn };
  });
}

/** Graph inputs of a subset decision: `indices` int64 [S], `inverse` int64 [B], `scale` float32 [1]. */
export function subsetInputs(d: SubsetDecision): { indices: Tensor<'int64'>; inverse: Tensor<'int64'>; scale: Tensor<'float32'> } {
  return {
    indices: new Tensor('int64', BigInt64Array.from(d.indices, (i) => BigInt(i)), [d.indices.length]),
    inverse: new Tensor('int64', BigInt64Array.from(d.inverse, (i) => BigInt(i)), [d.batch]),
    scale: Tensor.float32(Float32Array.of(d.scale), [1]),
  };
}

/** Graph input of a mask decision: float32 [B, 1, 1]. */
export function maskInput(d: MaskDecision): Tensor<'float32'> {
  return Tensor.float32(d.factors, [d.batch, 1, 1]);
}

/**
 * x + (residual on the `indices` rows, times `scale`, added back to those rows), for x [B, N, D] — the
 * graph side of a subset decision. `indices` int64 [S], `inverse` int64 [B], `scale` float32 [1].
 */
export function addResidualOnSubset(x: Sym, residual: (xs: Sym) => Sym, indices: Sym, inverse: Sym, scale: Sym): Sym {
  const g = x.g;
  const r = op.mul(residual(op.gather(x, indices, 0)), scale);
  const rest = op.slice(op.shapeOf(r), 0, 1, r.rank);
  const zeros = op.expand(g.scalar(0), op.concat([g.ints([1]), rest], 0), [1, ...r.shape.slice(1)]);
  const table = op.concat([zeros, r], 0);
  return op.add(x, op.gather(table, inverse, 0));
}

/** x + residual(x) · factors, factors float32 [B, 1, 1] — the graph side of a mask decision. */
export function addResidualMasked(x: Sym, residual: (x: Sym) => Sym, factors: Sym): Sym {
  return op.add(x, op.mul(residual(x), factors));
}
