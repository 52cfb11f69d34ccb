/**
 * torch.optim.AdamW (torch 1.13, amsgrad off, not capturable) over a ParamStore, as an onnxruntime graph
 * run once per chunk. Per element, in float32, with the step count t already incremented:
 *
 *   g'  = g · gradScale                      (the per-module clip coefficient; 1 when not clipping)
 *   p'  = p · (1 − lr·wd)                    (decoupled weight decay, before the moments)
 *   m'  = m·β1 + (1 − β1)·g'
 *   v'  = v·β2 + (1 − β2)·(g'·g')
 *   den = sqrt(v') / sqrt(1 − β2^t) + eps
 *   p'' = p' + (−lr / (1 − β1^t)) · (m' / den)
 *
 * The scalars are computed in float64 and rounded to float32 once, as torch turns its Python-float
 * arguments into the tensor's type. The association follows the official run's kernels (CUDA, foreach:
 * `a + s·(b·c)` for addcmul, `a + s·(b / c)` for addcdiv); torch's CPU kernels associate `(s·b)·c` and
 * `(s·b) / c`, and nvcc contracts `a + s·x` into a fused multiply-add, which ONNX cannot express — so the
 * result agrees with torch to rounding (about an ulp per op), not bit for bit. It IS bit-for-bit
 * deterministic across runs, which is what exact resumption needs.
 *
 * A chunk holds one group, so the per-group values are scalar inputs and one graph (symbolic length) serves
 * every chunk.
 *
 * Learning rate and weight decay per group follow `apply_optim_scheduler` (dinov2/train/train.py):
 * lr = (last-layer groups: last_layer_lr, others: lr) · lr_multiplier, wd = wd · wd_multiplier.
 */
import { GraphBuilder } from '../../graph/builder.js';
import type { GraphIR } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import { LazyGraph } from '../../graph/lazyGraph.js';
import type { RuntimeOptions } from '../../graph/runtime.js';
import { Tensor } from '../../core/tensor.js';
import { pythonPow } from '../../core/pythonMath.js';
import type { OptimGroup, ParamStore } from './paramStore.js';
import { checkRunElements, chunkGraphRuntime, slices } from './chunkRuntime.js';

export interface AdamWOptions {
  /** torch defaults; the official config's adamw_beta1/2 are 0.9 / 0.999. */
  beta1?: number;
  beta2?: number;
  eps?: number;
  runtime?: RuntimeOptions;
  /** Largest slice of a chunk per graph run (default 2^20 elements; see chunkRuntime.ts). */
  runElements?: number;
}

/** The schedules' values at one iteration, as train.py reads them. */
export interface ScheduleValues {
  lr: number;
  wd: number;
  lastLayerLr: number;
}

/** One group's `param_group["lr"]` and `param_group["weight_decay"]`. */
export interface GroupHyper {
  lr: number;
  weightDecay: number;
}

/** The official `apply_optim_scheduler`, per group (float64, as in Python). */
export function applyOptimScheduler(groups: readonly OptimGroup[], values: ScheduleValues): GroupHyper[] {
  for (const [k, v] of Object.entries(values)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`AdamW: schedule value '${k}' must be a finite number, got ${v}`);
  }
  return groups.map((g) => ({
    lr: (g.isLastLayer ? values.lastLayerLr : values.lr) * g.lrMultiplier,
    weightDecay: values.wd * g.wdMultiplier,
  }));
}

/** The float32 scalars of one group's update at step t (t ≥ 1, already incremented). */
export interface AdamWCoefficients {
  decay: number;
  negStepSize: number;
  bc2Sqrt: number;
}

export function adamwCoefficients(hyper: GroupHyper, step: number, beta1: number, beta2: number): AdamWCoefficients {
  if (!Number.isSafeInteger(step) || step < 1) throw new Error(`AdamW: step must be a positive integer, got ${step}`);
  // Python's `beta ** step` is C pow, correctly rounded; V8's `**` is not always (see pythonPow).
  const bc1 = 1 - pythonPow(beta1, step);
  const bc2 = 1 - pythonPow(beta2, step);
  return {
    decay: Math.fround(1 - hyper.lr * hyper.weightDecay),
    negStepSize: Math.fround(-(hyper.lr / bc1)),
    bc2Sqrt: Math.fround(Math.sqrt(bc2)),
  };
}

/**
 * The update over one chunk of N elements: `param`, `grad`, `exp_avg`, `exp_avg_sq` [N], the group's
 * scalars `decay`, `neg_step_size`, `bc2_sqrt`, `grad_scale` [1]; β1, β2, eps baked in as float32 constants.
 */
export function buildAdamWGraph(beta1: number, beta2: number, eps: number): GraphIR {
  const g = new GraphBuilder('adamw');
  const p = g.input('param', 'float32', ['N']);
  const grad = g.input('grad', 'float32', ['N']);
  const m = g.input('exp_avg', 'float32', ['N']);
  const v = g.input('exp_avg_sq', 'float32', ['N']);
  const decay = g.input('decay', 'float32', [1]);
  const negStep = g.input('neg_step_size', 'float32', [1]);
  const bc2Sqrt = g.input('bc2_sqrt', 'float32', [1]);
  const gradScale = g.input('grad_scale', 'float32', [1]);

  const gs = op.mul(grad, gradScale);
  const p1 = op.mul(p, decay);
  const m1 = op.add(op.mul(m, g.scalar(beta1)), op.mul(g.scalar(1 - beta1), gs));
  const v1 = op.add(op.mul(v, g.scalar(beta2)), op.mul(g.scalar(1 - beta2), op.mul(gs, gs)));
  const den = op.add(op.div(op.sqrt(v1), bc2Sqrt), g.scalar(eps));
  const p2 = op.add(p1, op.mul(negStep, op.div(m1, den)));
  g.output('param_out', p2);
  g.output('exp_avg_out', m1);
  g.output('exp_avg_sq_out', v1);
  return g.build();
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  private readonly graph: LazyGraph;
  /** Slot indices of each chunk's parameters. */
  private readonly chunkSlots: number[][];
  private readonly runElements: number;

  constructor(
    readonly store: ParamStore,
    options: AdamWOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    for (const [k, b] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`AdamW: ${k} must be in [0, 1), got ${b}`);
    }
    if (!(this.eps >= 0)) throw new Error(`AdamW: eps must be non-negative, got ${this.eps}`);
    this.runElements = checkRunElements(options.runElements);
    this.chunkSlots = store.chunks.map((c) => c.params.map((name) => store.indexOf(name)));
    this.graph = new LazyGraph(() => buildAdamWGraph(this.beta1, this.beta2, this.eps), chunkGraphRuntime(options.runtime));
  }

  /**
   * One `optimizer.step()` with the gradients in `store.grad`. `values` are the schedules at this
   * iteration (or explicit per-group lr / wd); `gradScales` are per-module clip coefficients (see
   * clipGradNorm.ts), applied to the gradients inside the update exactly as `grad.mul_(coef)` would.
   * Every parameter takes the step (gradients that torch would leave as None are not modelled).
   */
  async step(values: ScheduleValues | readonly GroupHyper[], gradScales?: ReadonlyMap<string, number>): Promise<void> {
    const store = this.store;
    const hyper = Array.isArray(values) ? (values as readonly GroupHyper[]) : applyOptimScheduler(store.groups, values as ScheduleValues);
    if (hyper.length !== store.groups.length) throw new Error(`AdamW: ${hyper.length} group settings for ${store.groups.length} groups`);
    if (gradScales) {
      for (const k of gradScales.keys()) if (!store.modules.includes(k)) throw new Error(`AdamW: grad scale for unknown module '${k}'`);
    }
    // Checked before anything moves: torch keeps a step count per parameter, a chunk needs one.
    const chunkSteps = this.chunkSlots.map((slots) => {
      const t = store.steps[slots[0]!]!;
      for (const i of slots) {
        if (store.steps[i] !== t) {
          throw new Error(`AdamW: '${store.slots[i]!.name}' has taken ${store.steps[i]} steps, '${store.slots[slots[0]!]!.name}' of the same group ${t}`);
        }
      }
      return t + 1;
    });
    const scalar = (x: number): Tensor<'float32'> => Tensor.float32(Float32Array.of(x), [1]);
    for (let c = 0; c < store.chunks.length; c++) {
      const chunk = store.chunks[c]!;
      const k = adamwCoefficients(hyper[chunk.group]!, chunkSteps[c]!, this.beta1, this.beta2);
      const n = chunk.size;
      const scalars = {
        decay: scalar(k.decay),
        neg_step_size: scalar(k.negStepSize),
        bc2_sqrt: scalar(k.bc2Sqrt),
        grad_scale: scalar(gradScales?.get(store.groups[chunk.group]!.module) ?? 1),
      };
      // In place, slice by slice: each output depends element-wise on its own input at the same index (see
      // CompiledGraph.run), so the store's arrays are updated without a second copy of the state. A failure
      // part-way leaves some chunks stepped and the step counts not: resume from the last checkpoint then.
      for (const [a, b] of slices(n, this.runElements)) {
        const view = (x: Float32Array): Tensor<'float32'> => Tensor.float32(x.subarray(a, b), [b - a]);
        const param = view(store.student[c]!);
        const expAvg = view(store.expAvg[c]!);
        const expAvgSq = view(store.expAvgSq[c]!);
        await this.graph.run({ param, grad: view(store.grad[c]!), exp_avg: expAvg, exp_avg_sq: expAvgSq, ...scalars }, undefined, {
          param_out: param,
          exp_avg_out: expAvg,
          exp_avg_sq_out: expAvgSq,
        });
      }
    }
    for (let i = 0; i < store.steps.length; i++) store.steps[i] = store.steps[i]! + 1;
  }

  async dispose(): Promise<void> {
    await this.graph.dispose();
  }
}
