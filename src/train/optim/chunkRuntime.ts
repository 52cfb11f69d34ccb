/**
 * Session settings for the element-wise graphs run chunk by chunk over a ParamStore (AdamW, the teacher
 * EMA, gradient clipping). Their inputs are the store's arrays and their outputs are written back into
 * them (CompiledGraph.run's `into`), so the only memory onnxruntime allocates is a few chunk-sized
 * temporaries per run. With onnxruntime's CPU arena those temporaries stay reserved after the run — for
 * AdamW at 64 MiB chunks about 0.9 GiB held for the whole training step, on top of the step graph's own
 * arena — while without it each is returned as soon as the run ends, for the cost of mapping them again
 * (these graphs are a few percent of a step). The caller's settings win.
 */
import type { RuntimeOptions } from '../../graph/runtime.js';

export function chunkGraphRuntime(runtime?: RuntimeOptions): RuntimeOptions {
  return { ...runtime, sessionOptions: { enableCpuMemArena: false, enableMemPattern: false, ...runtime?.sessionOptions } };
}
