/**
 * Metric depth of one image (`dinov2 depth`): decode, shrink large photos, predict with a `Depther`, bring the
 * map back to the image's size, colour-map it, and write the raw values when asked.
 */
import { writeFile } from 'node:fs/promises';
import { decodeImage } from '../data/decode.js';
import type { RgbImage } from '../data/image.js';
import { resize } from '../data/resample.js';
import { normalize, toTensor } from '../data/transforms.js';
import type { Depther } from '../heads/depth/depther.js';
import { resizeBilinear } from '../heads/resize.js';
import { encodeNpy } from '../formats/npy.js';
import { writeSafetensors } from '../formats/safetensorsWriter.js';
import { writeRgbPng } from '../formats/png.js';
import { applyColormap, finiteRange, type ColormapName } from './viz/colormap.js';

export interface DepthImageOptions {
  /** Shrink the image so its shorter side is at most this before inference (0: never; default 480). */
  size?: number;
}

export interface DepthImage {
  width: number;
  height: number;
  /** Depth in metres, [height, width] row-major, at the image's size. */
  depth: Float32Array;
  min: number;
  max: number;
}

/** Depth of `image` at its own size. Large photos are predicted at `size` (the cost grows with the square of the token count). */
export async function depthImage(depther: Depther, image: string | Uint8Array | RgbImage, opts: DepthImageOptions = {}): Promise<DepthImage> {
  const size = opts.size ?? 480;
  if (!(Number.isFinite(size) && size >= 0)) throw new Error(`depth: size must be a non-negative number, got ${size}`);
  const img = typeof image === 'string' || image instanceof Uint8Array ? await decodeImage(image) : image;
  const short = Math.min(img.width, img.height);
  const scaled = size > 0 && short > size ? resize(img, Math.round((img.width * size) / short), Math.round((img.height * size) / short), 'bicubic') : img;
  const x = normalize(toTensor(scaled)).reshape([1, 3, scaled.height, scaled.width]);
  let depth = await depther.predict(x);
  if (scaled !== img) depth = resizeBilinear(depth, img.height, img.width, false);
  const [min, max] = finiteRange(depth.data);
  return { width: img.width, height: img.height, depth: depth.data, min, max };
}

/** The depth map as a colour-mapped PNG (near → far over the colour map's range). */
export async function writeDepthPng(path: string, d: DepthImage, colormap: ColormapName): Promise<void> {
  await writeRgbPng(path, { width: d.width, height: d.height, data: applyColormap(d.depth, colormap, d.min, d.max) });
}

/** The raw depth in metres, [height, width] float32, as `.npy` or `.safetensors` (by extension). */
export async function writeRawDepth(path: string, d: DepthImage, metadata: Record<string, string> = {}): Promise<void> {
  if (/\.npy$/i.test(path)) await writeFile(path, encodeNpy(d.depth, [d.height, d.width]));
  else if (/\.safetensors$/i.test(path)) await writeSafetensors(path, [{ key: 'depth', dtype: 'F32', shape: [d.height, d.width], data: d.depth }], { unit: 'metre', ...metadata });
  else throw new Error(`${path}: raw depth is written as .npy or .safetensors`);
}
