/**
 * Gradient clipping per student module, as the official step does it (`for v in model.student.values():
 * v.clip_grad_norm_(cfg.optim.clip_grad)`, FSDP's `clip_grad_norm_` in torch 1.13):
 *
 *   norm_i  = ‖g_i‖₂ per parameter, in float32            (a graph reduction, run on each parameter's view)
 *   total   = ‖(norm_1, …, norm_k)‖₂ over the module      (host, float64, rounded to float32 once)
 *   coef    = f32(max_norm) / f32(total + f32(1e-6))      (a true division, as FSDP's tensor / tensor)
 *   g      *= coef when coef < 1
 *
 * FSDP multiplies only when coef < 1; torch.nn.utils.clip_grad_norm_ always multiplies by min(coef, 1).
 * Multiplying by exactly 1.0 changes no float, so both are the same here: the returned scale is
 * min(coef, 1). Per-parameter norms differ from torch's in the last bits (summation order), and FSDP
 * takes norms of its flat parameters rather than of each tensor — also a rounding-level difference.
 *
 * The scale is best handed to AdamW.step (it multiplies the gradients inside the update, no extra pass);
 * `clip_` applies it to the gradient buffers for use without AdamW. Both compute `g · scale` in float32,
 * so they give the same bits.
 */
import { GraphBuilder } from '../../graph/builder.js';
import type { GraphIR } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import { LazyGraph } from '../../graph/lazyGraph.js';
import type { RuntimeOptions } from '../../graph/runtime.js';
import { Tensor } from '../../core/tensor.js';
import type { ParamStore } from './paramStore.js';
import { checkRunElements, chunkGraphRuntime, slices } from './chunkRuntime.js';

/** The official `optim.clip_grad`. */
export const OFFICIAL_CLIP_GRAD = 3.0;

/** The L2 norm of one gradient: input `grad` [N], output `norm` [1] (float32 accumulation, as torch's). */
export function buildGradNormGraph(): GraphIR {
  const g = new GraphBuilder('grad_norm');
  const grad = g.input('grad', 'float32', ['N']);
  const sum = op.reduceSumSquare(grad, [0], true);
  g.output('norm', op.sqrt(sum));
  return g.build();
}

/** `grad · scale` over one chunk: `grad` [N], `scale` [1]. */
export function buildGradScaleGraph(): GraphIR {
  const g = new GraphBuilder('grad_scale');
  g.output('grad_out', op.mul(g.input('grad', 'float32', ['N']), g.input('scale', 'float32', [1])));
  return g.build();
}

/** ‖norms‖₂ as float32: float64 accumulation of the float32 norms, one final rounding. */
export function normOfNorms(norms: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < norms.length; i++) s += norms[i]! * norms[i]!;
  return Math.fround(Math.sqrt(s));
}

/**
 * min(max_norm / (total + 1e-6), 1) with FSDP's float32 arithmetic. A NaN norm gives 1 (FSDP's
 * `if clip_coef < 1` is false, the gradients stay as they are), an infinite one 0.
 */
export function clipScale(totalNorm: number, maxNorm: number): number {
  const coef = Math.fround(Math.fround(maxNorm) / Math.fround(Math.fround(totalNorm) + Math.fround(1e-6)));
  return coef < 1 ? coef : 1;
}

export interface ClipResult {
  /** Per-module total gradient norm (float32 values), before clipping. */
  totalNorms: Map<string, number>;
  /** Per-module factor the gradients are (or are to be) multiplied by: min(coef, 1). */
  scales: Map<string, number>;
}

export class GradClipper {
  private readonly normGraph: LazyGraph;
  private readonly scaleGraph: LazyGraph;
  private readonly runElements: number;

  /** `runElements`: largest slice of a chunk per run of the scaling graph (default 2^20; see chunkRuntime.ts). */
  constructor(
    readonly store: ParamStore,
    runtime?: RuntimeOptions,
    runElements?: number,
  ) {
    this.runElements = checkRunElements(runElements);
    this.normGraph = new LazyGraph(buildGradNormGraph, chunkGraphRuntime(runtime));
    this.scaleGraph = new LazyGraph(buildGradScaleGraph, chunkGraphRuntime(runtime));
  }

  /** Float32 L2 norm of every parameter's gradient, by name. */
  async paramNorms(): Promise<Map<string, number>> {
    const store = this.store;
    const out = new Map<string, number>();
    for (const s of store.slots) {
      const r = await this.normGraph.run({ grad: Tensor.float32(store.gradOf(s.name), [s.size]) });
      out.set(s.name, (r['norm']!.data as Float32Array)[0]!);
    }
    return out;
  }

  /** Total norms and clip scales per module, without touching the gradients (pass `scales` to AdamW.step). */
  async compute(maxNorm: number = OFFICIAL_CLIP_GRAD): Promise<ClipResult> {
    if (!(maxNorm > 0)) throw new Error(`clip_grad_norm: max norm must be positive, got ${maxNorm}`);
    const norms = await this.paramNorms();
    const totalNorms = new Map<string, number>();
    const scales = new Map<string, number>();
    for (const module of this.store.modules) {
      // Slot order is the module's parameter order: the order torch stacks the norms in.
      const total = normOfNorms(this.store.moduleSlots(module).map((s) => norms.get(s.name)!));
      totalNorms.set(module, total);
      scales.set(module, clipScale(total, maxNorm));
    }
    return { totalNorms, scales };
  }

  /** `clip_grad_norm_` on every module: the gradient buffers are replaced by the clipped ones. */
  async clip_(maxNorm: number = OFFICIAL_CLIP_GRAD): Promise<ClipResult> {
    const result = await this.compute(maxNorm);
    await this.scale_(result.scales);
    return result;
  }

  /** Multiplies each module's gradients by its scale (modules not listed, or with scale 1, are left as they are). */
  async scale_(scales: ReadonlyMap<string, number>): Promise<void> {
    const store = this.store;
    for (let c = 0; c < store.chunks.length; c++) {
      const chunk = store.chunks[c]!;
      const factor = scales.get(store.groups[chunk.group]!.module) ?? 1;
      if (factor === 1) continue; // g · 1 is g: skipping is exact, as FSDP's `if clip_coef < 1`
      const scale = Tensor.float32(Float32Array.of(factor), [1]);
      for (const [a, b] of slices(chunk.size, this.runElements)) {
        const grad = Tensor.float32(store.grad[c]!.subarray(a, b), [b - a]);
        await this.scaleGraph.run({ grad, scale }, undefined, { grad_out: grad });
      }
    }
  }

  async dispose(): Promise<void> {
    await this.normGraph.dispose();
    await this.scaleGraph.dispose();
  }
}
