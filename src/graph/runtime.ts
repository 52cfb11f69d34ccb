/**
 * Execution: a GraphIR becomes an onnxruntime-node InferenceSession. The graph is written to a private
 * temporary folder (model + external data), loaded, and the folder removed at once: onnxruntime keeps what
 * it loaded, and Linux keeps mapped files alive after unlinking.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tensor, type DType } from '../core/tensor.js';
import type { GraphIR } from './ir.js';
import { writeOnnx } from './onnx.js';

export type Device = 'cpu' | 'webgpu' | 'cuda';

export interface RuntimeOptions {
  /** Execution provider; 'cpu' (default), 'webgpu' (Dawn; Vulkan on Linux) or 'cuda' (needs CUDA 12 libraries, see README). */
  device?: Device;
  /** Intra-op threads (default: onnxruntime's choice, one per physical core). */
  threads?: number;
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Where temporary model files go (default: the OS temp folder). */
  workDir?: string;
  /** Point external data at checkpoint files in place instead of copying (default true). */
  linkExtents?: boolean;
  /** Extra onnxruntime session options (advanced). */
  sessionOptions?: ort.InferenceSession.SessionOptions;
}

/** onnxruntime's tensor type of each dtype; bfloat16 has none in the JavaScript API (graph-internal only). */
const ORT_TYPE: Partial<Record<DType, ort.Tensor.Type>> = {
  float64: 'float64',
  float32: 'float32',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  int16: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

function toOrt(t: Tensor): ort.Tensor {
  const type = ORT_TYPE[t.dtype];
  if (type === undefined) throw new Error(`onnxruntime takes no ${t.dtype} tensors from JavaScript`);
  return new ort.Tensor(type, t.data as never, t.shape as number[]);
}

function fromOrt(name: string, t: ort.Tensor): Tensor {
  const dtype = t.type as DType;
  if (!(dtype in ORT_TYPE)) throw new Error(`output '${name}' has unsupported type ${t.type}`);
  return new Tensor(dtype, t.data as never, t.dims as number[]);
}

function executionProviders(device: Device): ort.InferenceSession.ExecutionProviderConfig[] {
  switch (device) {
    case 'cpu':
      return ['cpu'];
    case 'webgpu':
      return ['webgpu', 'cpu'];
    case 'cuda':
      return ['cuda', 'cpu'];
  }
}

export class CompiledGraph {
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly session: ort.InferenceSession,
    readonly ir: GraphIR,
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the graph. Calls on one session are serialised (onnxruntime sessions are not re-entrant here). */
  async run(feeds: Record<string, Tensor>, outputs?: readonly string[]): Promise<Record<string, Tensor>> {
    for (const input of this.ir.inputs) {
      const t = feeds[input.name];
      if (!t) throw new Error(`graph '${this.name}': missing input '${input.name}'`);
      if (t.dtype !== input.dtype) throw new Error(`graph '${this.name}': input '${input.name}' must be ${input.dtype}, got ${t.dtype}`);
      if (t.rank !== input.shape.length || input.shape.some((d, i) => typeof d === 'number' && d !== t.shape[i])) {
        throw new Error(`graph '${this.name}': input '${input.name}' has shape [${t.shape.join(', ')}], expected [${input.shape.join(', ')}]`);
      }
    }
    const job = this.running.then(async () => {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const input of this.ir.inputs) ortFeeds[input.name] = toOrt(feeds[input.name]!);
      const result = outputs ? await this.session.run(ortFeeds, outputs as string[]) : await this.session.run(ortFeeds);
      const out: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(result)) out[k] = fromOrt(k, v);
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

export async function compileGraph(ir: GraphIR, options: RuntimeOptions = {}): Promise<CompiledGraph> {
  const device = options.device ?? 'cpu';
  const dir = await mkdtemp(join(options.workDir ?? tmpdir(), 'dinov2-ts-'));
  try {
    const modelPath = await writeOnnx(ir, dir, 'model', { linkExtents: options.linkExtents ?? true });
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: executionProviders(device),
      graphOptimizationLevel: options.graphOptimization ?? 'all',
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
      ...options.sessionOptions,
    };
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelPath, sessionOptions);
    } catch (e) {
      const msg = (e as Error).message;
      if (device === 'cuda' && /cuda|CUDA|libcublas|libcudnn|shared library/.test(msg)) {
        throw new Error(`device 'cuda' is not available: ${msg}\nInstall onnxruntime-node's CUDA libraries (see README, "GPU").`);
      }
      if (device === 'webgpu' && /adapter|WebGPU|Vulkan|Dawn/i.test(msg)) {
        throw new Error(`device 'webgpu' is not available (no GPU adapter: on Linux it needs a Vulkan driver and libvulkan1): ${msg}`);
      }
      throw new Error(`onnxruntime could not load graph '${ir.name}': ${msg}`);
    }
    return new CompiledGraph(ir.name, session, ir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
