/**
 * Execution in a page: a GraphIR becomes an onnxruntime-web InferenceSession. The browser build of the
 * package (tools/buildWeb.ts) puts this module where src/graph/runtime.ts is, so the model code (LazyGraph,
 * Dinov2, heads) is the same code in Node and in the page; only how a graph is handed to onnxruntime differs:
 * here the ONNX bytes are encoded in memory (graph/onnxEncode.ts), weights inline, or for models over
 * protobuf's 2 GB limit in one external-data Blob passed through onnxruntime-web's `externalData`.
 *
 * Devices: 'cpu' is the WASM backend (SIMD; threads when the page is cross-origin isolated), 'webgpu' the
 * WebGPU backend (falling back to WASM for operators it lacks). Each backend is loaded on first use.
 */
import type * as OrtWeb from 'onnxruntime-web';
import type { GraphIR } from '../graph/ir.js';
import { byteLength, encodeOnnxInMemory } from '../graph/onnxEncode.js';
import { CompiledGraph } from '../graph/session.js';
import { lowerForDevice } from '../graph/lowering.js';

export { CompiledGraph };

export type Device = 'cpu' | 'webgpu' | 'cuda';

export interface RuntimeOptions {
  /** 'cpu' (WASM, default) or 'webgpu'. 'cuda' does not exist in a browser. */
  device?: Device;
  /** WASM threads: applies to the first session the page creates (onnxruntime-web's env is global). */
  threads?: number;
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Node only; ignored here. */
  workDir?: string;
  /** Node only; ignored here. */
  linkExtents?: boolean;
  /** Extra onnxruntime-web session options (advanced). */
  sessionOptions?: OrtWeb.InferenceSession.SessionOptions;
  /**
   * Total weight bytes above which a graph's initializers go to onnxruntime-web's `externalData` instead
   * of inline protobuf (default 1.5 GiB: protobuf messages are limited to 2 GB).
   */
  externalDataAbove?: number;
}

export interface WebRuntimeConfig {
  /**
   * Where onnxruntime-web's `.wasm` and `.mjs` files are served (a folder URL ending in '/'). Default: the
   * `ort/` folder beside the dinov2-ts web bundle, where `npm run build` copies them.
   */
  wasmPaths?: string;
  /** WASM threads (default: up to 4 when the page is cross-origin isolated, else 1). */
  numThreads?: number;
}

const config: WebRuntimeConfig = {};
let configured = false;

/** Sets where onnxruntime-web's files are and how many threads it uses; call before the first model runs. */
export function configureRuntime(c: WebRuntimeConfig): void {
  if (configured) throw new Error('configureRuntime: onnxruntime-web is already initialised (call it before the first model runs)');
  Object.assign(config, c);
}

function defaultThreads(): number {
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  if (!g.crossOriginIsolated) return 1;
  return Math.max(1, Math.min(4, g.navigator?.hardwareConcurrency ?? 1));
}

/** The WASM threads a 'cpu' session of these options runs with, 0 for WebGPU (graph/runtime.ts' counterpart). */
export function cpuThreadsOf(options: RuntimeOptions): number {
  if ((options.device ?? 'cpu') !== 'cpu') return 0;
  return wasmThreads(options.threads);
}

/** WASM threads: the page's configureRuntime, else the session's `threads`, else the default. */
function wasmThreads(threads?: number): number {
  return config.numThreads ?? threads ?? defaultThreads();
}

type Ort = typeof OrtWeb;
const loaded = new Map<string, Promise<Ort>>();

/** The WASM-only build for 'cpu' (smaller, no asyncify), the WebGPU build (which also runs WASM) for 'webgpu'. */
function ortFor(device: 'cpu' | 'webgpu', threads?: number): Promise<Ort> {
  let pending = loaded.get(device);
  if (!pending) {
    pending = (device === 'webgpu' ? import('onnxruntime-web/webgpu') : import('onnxruntime-web/wasm')).then((m) => {
      const ort = ((m as { default?: Ort }).default ?? m) as Ort;
      configured = true;
      ort.env.wasm.wasmPaths = config.wasmPaths ?? new URL('./ort/', import.meta.url).href;
      ort.env.wasm.numThreads = wasmThreads(threads);
      return ort;
    });
    loaded.set(device, pending);
  }
  return pending;
}

/** Initializer bytes above which the weights go to external data (protobuf messages are limited to 2 GB). */
const INLINE_LIMIT = 1.5 * 2 ** 30;

/**
 * onnxruntime-web's memory: 32-bit WebAssembly, at most 4 GiB. The weights are copied into it on every
 * backend (the WebGPU backend uploads them to the GPU from there), so a graph whose weights alone reach
 * this size cannot load; it is refused before anything is read or allocated.
 */
const WASM_MEMORY_LIMIT = 4 * 2 ** 30;

let webGpuCheck: Promise<void> | null = null;

/**
 * 'webgpu' was asked for: onnxruntime-web would fall back to WASM without a word when the browser has no
 * adapter, so the adapter is checked first (once per page) and its absence is an error.
 */
function requireWebGpu(): Promise<void> {
  webGpuCheck ??= (async () => {
    const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
    const why = !gpu ? 'navigator.gpu is missing (WebGPU needs a secure context and a browser that supports it)' : (await gpu.requestAdapter()) ? null : 'navigator.gpu.requestAdapter() found no adapter';
    if (why) throw new Error(`device 'webgpu' is not available in this browser: ${why}; use device 'cpu' (WASM) or 'auto'`);
  })();
  return webGpuCheck;
}

export async function compileGraph(ir: GraphIR, options: RuntimeOptions = {}): Promise<CompiledGraph> {
  const device = options.device ?? 'cpu';
  if (device === 'cuda') throw new Error(`device 'cuda' is not available in a browser: use 'webgpu' or 'cpu' (WASM)`);
  const total = ir.initializers.reduce((n, i) => n + byteLength(i), 0);
  if (total >= WASM_MEMORY_LIMIT) {
    throw new Error(
      `graph '${ir.name}' has ${(total / 2 ** 30).toFixed(2)} GiB of weights: more than onnxruntime-web can hold (its WebAssembly memory is at most 4 GiB, on 'cpu' and 'webgpu' alike); ` +
        `run this model in Node (dinov2-ts), or use a smaller architecture in the page`,
    );
  }
  if (device === 'webgpu') await requireWebGpu();
  const ort = await ortFor(device, options.threads);
  const encoded = await encodeOnnxInMemory(lowerForDevice(ir, device), { externalThreshold: total > (options.externalDataAbove ?? INLINE_LIMIT) ? 1024 : Infinity, location: 'weights.bin' });
  const sessionOptions: OrtWeb.InferenceSession.SessionOptions = {
    executionProviders: device === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'],
    graphOptimizationLevel: options.graphOptimization ?? 'all',
    ...(encoded.external.parts.length > 0 ? { externalData: [{ path: encoded.external.location, data: new Blob(encoded.external.parts as BlobPart[]) }] } : {}),
    ...options.sessionOptions,
  };
  let session: OrtWeb.InferenceSession;
  try {
    session = await ort.InferenceSession.create(encoded.model, sessionOptions);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (device === 'webgpu' && /adapter|webgpu|gpu/i.test(msg)) throw new Error(`device 'webgpu' is not available in this browser: ${msg}`);
    if (/memory|allocat|RangeError/i.test(msg)) {
      throw new Error(`onnxruntime-web could not load graph '${ir.name}' (${(total / 2 ** 20).toFixed(0)} MiB of weights): out of memory — WASM has at most 4 GiB; try 'webgpu' or a smaller model (${msg})`);
    }
    throw new Error(`onnxruntime-web could not load graph '${ir.name}': ${msg}`);
  }
  return new CompiledGraph(ir.name, session as never, ir, ort.Tensor as never);
}
