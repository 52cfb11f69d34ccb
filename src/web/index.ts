/**
 * `dinov2-ts/web`: DINOv2 in a page, on onnxruntime-web. The model is the library's own (the same graph
 * built from src/models, the same Dinov2 class, the same preprocessing from src/data); only I/O differs:
 * weights come from a URL, a Hugging Face repo id, a File or an ArrayBuffer (src/web/sources.ts), images are
 * decoded by the browser (src/web/decode.ts), and graphs run on onnxruntime-web (src/web/runtime.ts).
 *
 *   import { loadDinov2, decodeImage, evalTransform, batchTensors } from 'dinov2-ts/web';
 *   const model = await loadDinov2('facebook/dinov2-small', { onProgress: (p) => console.log(p.loaded) });
 *   const x = evalTransform(await decodeImage(file));
 *   const { clsToken, patchTokens } = await model.forwardFeatures(batchTensors([x]));
 */
import { backboneFromSource } from '../models/load.js';
import { Dinov2, type ModelOptions } from '../models/dinov2.js';
import type { BackboneConfig } from '../models/config.js';
import { openWebWeights, type WeightsInput, type WeightsOptions } from './sources.js';
import { decodeImage, type WebDecodeOptions, type WebImageInput } from './decode.js';
import { batchTensors } from '../data/transforms.js';
import { embedTransform } from '../data/transforms.js';
import { pooled, type Pool } from '../models/pooling.js';

export { Dinov2, type ForwardFeaturesOutput, type IntermediateLayer, type IntermediateLayersOptions, type ModelOptions } from '../models/dinov2.js';
export { HUB_MODELS, hubConfig, makeConfig, type BackboneConfig, type HubModelName } from '../models/config.js';
export { hfRepo } from '../hub/registry.js';
export { randomBackboneWeights } from '../models/randomWeights.js';
export { Tensor } from '../core/tensor.js';
export type { RgbImage } from '../data/image.js';
export { resize, type ResampleFilter } from '../data/resample.js';
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  batchTensors,
  centerCrop,
  denseSize,
  denseTransform,
  evalTransform,
  normalize,
  resizeShorterSide,
  shorterSideSize,
  toTensor,
} from '../data/transforms.js';
export { embedTransform, evalResizeFor } from '../data/transforms.js';
export { meanPatch, pooled, POOLS, type Pool } from '../models/pooling.js';
export { AttentionMaps, type ClsAttention } from '../heads/attentionMaps.js';
export { foregroundFromFirstComponent, otsuThreshold, pca, pcaPicture, type PcaPicture, type PcaPictureOptions } from '../eval/pcaMap.js';
export { SafetensorsSource } from '../formats/safetensorsHeader.js';
export { bytesSource, type ByteSource } from '../formats/byteSource.js';
export { blobSource, hubFileUrl, isHubRepoId, openWebWeights, urlSource, type LoadProgress, type WeightsInput, type WeightsOptions } from './sources.js';
export { decodeImage, DEFAULT_MAX_PIXELS, type WebDecodeOptions, type WebImageInput } from './decode.js';
export { configureRuntime, type WebRuntimeConfig } from './runtime.js';
export { rgbToImageData } from './draw.js';

export type WebDevice = 'auto' | 'cpu' | 'webgpu';

/** 'webgpu' when the browser has a WebGPU adapter, else 'cpu' (WASM). */
export async function chooseDevice(preference: WebDevice = 'auto'): Promise<'cpu' | 'webgpu'> {
  if (preference !== 'auto') return preference;
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  if (!gpu) return 'cpu';
  try {
    return (await gpu.requestAdapter()) ? 'webgpu' : 'cpu';
  } catch {
    return 'cpu';
  }
}

export interface LoadDinov2Options extends WeightsOptions, Omit<ModelOptions, 'device' | 'workDir' | 'linkExtents'> {
  /** 'auto' (default): WebGPU when available, else WASM. */
  device?: WebDevice;
  /** Architecture settings that override what is detected. */
  config?: Partial<BackboneConfig>;
  /** Weight bytes above which graphs pass their weights as onnxruntime-web external data (default 1.5 GiB). */
  externalDataAbove?: number;
}

/**
 * Loads a backbone in the page: `weights` is a `.safetensors` URL (official or wrapped keys), a Hugging Face
 * repo id such as 'facebook/dinov2-small' (its model.safetensors + config.json), a File/Blob or an
 * ArrayBuffer. The architecture is detected from the weights, as in Node.
 */
export async function loadDinov2(weights: WeightsInput, opts: LoadDinov2Options = {}): Promise<Dinov2> {
  const device = await chooseDevice(opts.device);
  const source = await openWebWeights(weights, opts);
  try {
    const { device: _d, cache: _c, cacheName: _n, onProgress: _p, revision: _r, hubEndpoint: _h, signal: _s, ...modelOptions } = opts;
    // onnxruntime-web's fused attention shader (FlashAttention) gave tokens 0.1–0.4 off on Chromium's
    // software WebGPU adapter while attention from standard operators is exact (test/web/webgpu.test.ts);
    // until it is shown exact on the GPUs pages meet, the page uses standard attention on WebGPU by default.
    const attentionKernel = modelOptions.attentionKernel ?? (device === 'webgpu' && modelOptions.fusedAttention === undefined ? 'standard' : undefined);
    return await backboneFromSource(source, { ...modelOptions, device, ...(attentionKernel ? { attentionKernel } : {}) });
  } catch (e) {
    await source.close();
    throw e;
  }
}

export interface EmbedImagesOptions {
  /** Eval transform crop side (default 224; a multiple of the patch size). */
  size?: number;
  /** Dense transform (shorter side) instead of the eval transform. */
  dense?: number;
  /** Default 'cls'. */
  pool?: Exclude<Pool, 'patch'>;
  decode?: WebDecodeOptions;
}

/**
 * One embedding per image, computed in the page (images never leave it): decode, the transform `size` or
 * `dense` selects (as `dinov2 embed`), forward_features, pool. Vectors are not normalised.
 */
export async function embedImages(model: Dinov2, images: readonly WebImageInput[], opts: EmbedImagesOptions = {}): Promise<Float32Array[]> {
  const transform = embedTransform(opts.dense !== undefined ? { dense: opts.dense } : { size: opts.size ?? 224 }, model.patchSize);
  const out: Float32Array[] = [];
  for (const image of images) {
    const x = transform(await decodeImage(image, opts.decode));
    const features = await model.forwardFeatures(batchTensors([x]));
    out.push(pooled(features, 0, opts.pool ?? 'cls').data);
  }
  return out;
}

// In Node, `Dinov2.load` comes from hub/loadModel.ts (files, caches, downloads). The page has none of those:
// it names what to use instead.
Object.defineProperty(Dinov2, 'load', {
  value: (): Promise<never> =>
    Promise.reject(new Error("Dinov2.load reads the file system and is not available in a browser; use loadDinov2 from 'dinov2-ts/web' (a URL, a Hugging Face repo id, a File or an ArrayBuffer)")),
  writable: false,
  enumerable: false,
});
