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
import type { GraphIR } from './ir.js';
import { writeOnnx } from './onnx.js';
import { CompiledGraph } from './session.js';

export { CompiledGraph };

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
    return new CompiledGraph(ir.name, session as never, ir, ort.Tensor as never);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
