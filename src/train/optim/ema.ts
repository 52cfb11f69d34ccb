/**
 * The teacher's exponential moving average of the student (`SSLMetaArch.update_teacher`):
 *
 *   torch._foreach_mul_(teacher, m)                  t' = t · f32(m)
 *   torch._foreach_add_(teacher, student, alpha=1-m) t'' = t' + f32(1 − m) · s
 *
 * in float32 with that association, over every parameter of every student module at once. 1 − m is
 * computed in float64 (a Python float) and rounded once, as torch rounds `alpha`. The CUDA kernel of the
 * official run may contract the last line into a fused multiply-add; ONNX has none, so the result agrees
 * with it to within an ulp, and is bit-for-bit reproducible here.
 *
 * The graph is the same for every chunk (a symbolic length), so one session serves the whole store.
 */
import { GraphBuilder } from '../../graph/builder.js';
import type { GraphIR } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import { LazyGraph } from '../../graph/lazyGraph.js';
import type { RuntimeOptions } from '../../graph/runtime.js';
import { Tensor } from '../../core/tensor.js';
import type { ParamStore } from './paramStore.js';
import { checkRunElements, chunkGraphRuntime, slices } from './chunkRuntime.js';

/** Inputs `teacher`, `student` [N], `momentum`, `one_minus_momentum` [1]; output `teacher_out` [N]. */
export function buildEmaGraph(): GraphIR {
  const g = new GraphBuilder('teacher_ema');
  const t = g.input('teacher', 'float32', ['N']);
  const s = g.input('student', 'float32', ['N']);
  const m = g.input('momentum', 'float32', [1]);
  const a = g.input('one_minus_momentum', 'float32', [1]);
  g.output('teacher_out', op.add(op.mul(t, m), op.mul(a, s)));
  return g.build();
}

export class TeacherEma {
  private readonly graph: LazyGraph;
  private readonly runElements: number;

  /** `runElements`: largest slice of a chunk per graph run (default 2^20; see chunkRuntime.ts). */
  constructor(
    readonly store: ParamStore,
    runtime?: RuntimeOptions,
    runElements?: number,
  ) {
    this.runElements = checkRunElements(runElements);
    this.graph = new LazyGraph(buildEmaGraph, chunkGraphRuntime(runtime));
  }

  /** θ_teacher ← m·θ_teacher + (1 − m)·θ_student for every parameter (m: the momentum schedule's value). */
  async update(momentum: number): Promise<void> {
    if (typeof momentum !== 'number' || !Number.isFinite(momentum)) throw new Error(`teacher EMA: momentum must be a finite number, got ${momentum}`);
    const m = Tensor.float32(Float32Array.of(momentum), [1]);
    const a1 = Tensor.float32(Float32Array.of(1 - momentum), [1]);
    const store = this.store;
    for (let c = 0; c < store.chunks.length; c++) {
      const n = store.chunks[c]!.size;
      // In place, slice by slice (the output depends element-wise on the teacher at the same index only).
      for (const [a, b] of slices(n, this.runElements)) {
        const teacher = Tensor.float32(store.teacher[c]!.subarray(a, b), [b - a]);
        const student = Tensor.float32(store.student[c]!.subarray(a, b), [b - a]);
        await this.graph.run({ teacher, student, momentum: m, one_minus_momentum: a1 }, undefined, { teacher_out: teacher });
      }
    }
  }

  async dispose(): Promise<void> {
    await this.graph.dispose();
  }
}
