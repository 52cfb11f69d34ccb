/**
 * A compiled graph over an onnxruntime InferenceSession, independent of which onnxruntime runs it: the
 * Node runtime (graph/runtime.ts, onnxruntime-node) and the browser runtime (src/web/runtime.ts,
 * onnxruntime-web) both wrap their sessions in this class. Only the shapes both packages share (the
 * onnxruntime-common API) are used, so neither package is imported here.
 */
import { Tensor, type DType } from '../core/tensor.js';
import type { GraphIR } from './ir.js';

/** The part of an onnxruntime Tensor used here. */
export interface OrtTensorLike {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}

/** onnxruntime's Tensor constructor `new Tensor(type, data, dims)`. */
export type OrtTensorConstructor = new (type: never, data: never, dims: readonly number[]) => OrtTensorLike;

/** The part of an onnxruntime InferenceSession used here. */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, never>, fetches?: readonly string[] | Record<string, never>): Promise<Record<string, OrtTensorLike>>;
  release(): Promise<void>;
}

/** The dtypes onnxruntime's JavaScript API exchanges (bfloat16 has no typed array there: graph-internal only). */
const ORT_TYPES: ReadonlySet<string> = new Set<DType>(['float64', 'float32', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']);

function fromOrt(name: string, t: OrtTensorLike): Tensor {
  if (!ORT_TYPES.has(t.type)) throw new Error(`output '${name}' has unsupported type ${t.type}`);
  return new Tensor(t.type as DType, t.data as never, t.dims as number[]);
}

export class CompiledGraph {
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly session: OrtSessionLike,
    readonly ir: GraphIR,
    private readonly OrtTensor: OrtTensorConstructor,
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Runs the graph. Calls on one session are serialised (onnxruntime sessions are not re-entrant here).
   * `outputs` selects what is returned (default: every output). `into` names outputs that onnxruntime
   * writes straight into the caller's tensors (float32 etc., exact shape), so no output buffer is
   * allocated in onnxruntime's memory; those come back as the caller's own tensors. An `into` tensor may
   * share its memory with an input only where the output depends element-wise on that input alone at the
   * same index and no other node reads it (the optimiser's in-place updates).
   */
  async run(feeds: Record<string, Tensor>, outputs?: readonly string[], into?: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    for (const input of this.ir.inputs) {
      const t = feeds[input.name];
      if (!t) throw new Error(`graph '${this.name}': missing input '${input.name}'`);
      if (t.dtype !== input.dtype) throw new Error(`graph '${this.name}': input '${input.name}' must be ${input.dtype}, got ${t.dtype}`);
      if (t.rank !== input.shape.length || input.shape.some((d, i) => typeof d === 'number' && d !== t.shape[i])) {
        throw new Error(`graph '${this.name}': input '${input.name}' has shape [${t.shape.join(', ')}], expected [${input.shape.join(', ')}]`);
      }
    }
    for (const [name, t] of Object.entries(into ?? {})) {
      const o = this.ir.outputs.find((x) => x.name === name);
      if (!o) throw new Error(`graph '${this.name}': no output '${name}' to write into`);
      if (t.dtype !== o.dtype) throw new Error(`graph '${this.name}': output '${name}' is ${o.dtype}, the buffer given for it ${t.dtype}`);
      if (t.rank !== o.shape.length || o.shape.some((d, i) => typeof d === 'number' && d !== t.shape[i])) {
        throw new Error(`graph '${this.name}': output '${name}' has shape [${o.shape.join(', ')}], the buffer given for it [${t.shape.join(', ')}]`);
      }
    }
    const job = this.running.then(async () => {
      const ortFeeds: Record<string, OrtTensorLike> = {};
      for (const input of this.ir.inputs) {
        const t = feeds[input.name]!;
        if (!ORT_TYPES.has(t.dtype)) throw new Error(`graph '${this.name}': onnxruntime takes no ${t.dtype} tensors from JavaScript (input '${input.name}')`);
        ortFeeds[input.name] = new this.OrtTensor(t.dtype as never, t.data as never, t.shape as number[]);
      }
      let result: Record<string, OrtTensorLike>;
      if (into && Object.keys(into).length > 0) {
        const fetches: Record<string, OrtTensorLike | null> = {};
        for (const k of outputs ?? this.session.outputNames) fetches[k] = null;
        for (const [k, t] of Object.entries(into)) fetches[k] = new this.OrtTensor(t.dtype as never, t.data as never, t.shape as number[]);
        result = await this.session.run(ortFeeds as never, fetches as never);
      } else {
        result = outputs ? await this.session.run(ortFeeds as never, outputs) : await this.session.run(ortFeeds as never);
      }
      const out: Record<string, Tensor> = {};
      // onnxruntime-node hands back a copy of a pre-allocated output; the caller's tensor holds the result.
      for (const [k, v] of Object.entries(result)) out[k] = into?.[k] ?? fromOrt(k, v);
      return out;
    });
    this.running = job.catch(() => undefined);
    return job;
  }

  async dispose(): Promise<void> {
    await this.running;
    await this.session.release();
  }
}
