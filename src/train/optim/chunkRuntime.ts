/**
 * How the element-wise graphs over a ParamStore (AdamW, the teacher EMA, gradient clipping's scaling) run.
 * Their inputs are the store's arrays and their outputs are written back into them (CompiledGraph.run's
 * `into`), so what onnxruntime allocates is only the graph's temporaries — a dozen for AdamW, each as
 * long as the run. Over whole 64 MiB chunks those temporaries are large: onnxruntime's CPU arena then
 * keeps about 0.9 GiB reserved for the rest of training (on top of the step graph's arena), and without
 * the arena each is mapped and faulted in afresh on every run. So each chunk runs in slices of at most
 * `runElements` (default 2^20, 4 MiB): the update is element-wise, so slicing gives the same bits, and
 * the arena holds a few slices' worth of temporaries, reused from run to run.
 */
import type { RuntimeOptions } from '../../graph/runtime.js';

/** Default largest slice of a chunk given to one run of an element-wise update graph. */
export const DEFAULT_RUN_ELEMENTS = 1 << 20;

export function checkRunElements(n: number | undefined): number {
  const v = n ?? DEFAULT_RUN_ELEMENTS;
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`runElements must be a positive integer, got ${n}`);
  return v;
}

/** [start, end) ranges of at most `max` elements covering [0, n). */
export function* slices(n: number, max: number): Generator<[number, number]> {
  for (let s = 0; s < n; s += max) yield [s, Math.min(n, s + max)];
}

/** The runtime for these graphs: the caller's, with the memory pattern off (shapes change with the slice). */
export function chunkGraphRuntime(runtime?: RuntimeOptions): RuntimeOptions {
  return { ...runtime, sessionOptions: { enableMemPattern: false, ...runtime?.sessionOptions } };
}
