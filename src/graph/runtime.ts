/**
 * Execution in Node: a GraphIR becomes an onnxruntime-node InferenceSession (wrapped in session.ts's
 * CompiledGraph, shared with the browser runtime src/web/runtime.ts). The graph is written to a private
 * temporary folder (model + external data), loaded, and the folder removed at once: onnxruntime keeps what
 * it loaded, and Linux keeps mapped files alive after unlinking.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from './builder.js';
import type { GraphIR } from './ir.js';
import { lowerForDevice } from './lowering.js';
import * as op from './ops.js';
import { writeOnnx } from './onnx.js';
import { CompiledGraph } from './session.js';
import { physicalCores } from './physicalCores.js';
import { Tensor } from '../core/tensor.js';

export { CompiledGraph };

export type Device = 'cpu' | 'webgpu' | 'cuda';

export interface RuntimeOptions {
  /** Execution provider; 'cpu' (default), 'webgpu' (Dawn; Vulkan on Linux) or 'cuda' (needs CUDA 12 libraries, see README). */
  device?: Device;
  /** Intra-op threads (default: the physical cores this process may use, see physicalCores.ts). */
  threads?: number;
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Where temporary model files go (default: the OS temp folder). */
  workDir?: string;
  /** Point external data at checkpoint files in place instead of copying (default true). */
  linkExtents?: boolean;
  /** Extra onnxruntime session options (advanced). */
  sessionOptions?: ort.InferenceSession.SessionOptions;
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

/**
 * The intra-op threads a CPU session of these options runs with (0 for other devices): `threads`, else the
 * physical cores; a session option `intraOpNumThreads` wins (0 there is onnxruntime's own choice).
 */
export function cpuThreadsOf(options: RuntimeOptions): number {
  if ((options.device ?? 'cpu') !== 'cpu') return 0;
  return options.sessionOptions?.intraOpNumThreads ?? defaultIntraOpThreads(options);
}

/** `threads`, else one per physical core: what every session gets unless its session options say otherwise. */
function defaultIntraOpThreads(options: RuntimeOptions): number {
  return options.threads || physicalCores();
}

export async function compileGraph(ir: GraphIR, options: RuntimeOptions = {}): Promise<CompiledGraph> {
  const device = options.device ?? 'cpu';
  const dir = await mkdtemp(join(options.workDir ?? tmpdir(), 'dinov2-ts-'));
  try {
    const modelPath = await writeOnnx(lowerForDevice(ir, device), dir, 'model', { linkExtents: options.linkExtents ?? true });
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: executionProviders(device),
      graphOptimizationLevel: options.graphOptimization ?? 'all',
      intraOpNumThreads: defaultIntraOpThreads(options),
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
    return new CompiledGraph(ir.name, session as never, ir, ort.Tensor as never);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const deviceChecks = new Map<Device, Promise<void>>();

/**
 * Resolves when graphs can run on `device` here ('cpu' at once); otherwise rejects with compileGraph's
 * error (e.g. "device 'webgpu' is not available (no GPU adapter …)"). It compiles and runs a one-node
 * graph on the device, once per process, so a long job (training) can fail before it reads any data
 * rather than at its first step. onnxruntime-node's WebGPU provider (Dawn) uses GPU adapters only: a
 * machine without a GPU and Vulkan driver has none, even where a browser offers SwiftShader.
 */
export function checkDevice(device: Device = 'cpu'): Promise<void> {
  if (device === 'cpu') return Promise.resolve();
  let check = deviceChecks.get(device);
  if (!check) {
    check = (async () => {
      const g = new GraphBuilder(`device_check_${device}`);
      const x = g.input('x', 'float32', [4]);
      g.output('y', op.add(x, x));
      const graph = await compileGraph(g.build(), { device });
      try {
        await graph.run({ x: new Tensor('float32', Float32Array.of(1, 2, 3, 4), [4]) });
      } finally {
        await graph.dispose();
      }
    })();
    check.catch(() => deviceChecks.delete(device));
    deviceChecks.set(device, check);
  }
  return check;
}
