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
import { GLYPH_HEIGHT, drawTextInPlace, labelScale, textWidth } from './viz/text.js';
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

/** The depth map as a colour-mapped PNG (near → far over the colour map's range), with its scale in metres. */
export async function writeDepthPng(path: string, d: DepthImage, colormap: ColormapName): Promise<void> {
  await writeRgbPng(path, withDepthScale({ width: d.width, height: d.height, data: applyColormap(d.depth, colormap, d.min, d.max) }, d, colormap));
}

/**
 * The colour scale drawn into the bottom-left corner of a depth picture: a bar from the nearest to the
 * farthest depth, labelled with both in metres (skipped in images too small to hold it).
 */
export function withDepthScale(img: RgbImage, d: Pick<DepthImage, 'min' | 'max'>, colormap: ColormapName): RgbImage {
  const s = labelScale(img.width, img.height);
  const lo = `${d.min.toFixed(2)} M`;
  const hi = `${d.max.toFixed(2)} M`;
  const barW = Math.max(Math.min(Math.round(img.width * 0.4), 160 * s), textWidth(lo, s) + textWidth(hi, s) + 6 * s);
  const barH = 6 * s;
  const pad = 3 * s;
  const boxW = barW + 2 * pad;
  const boxH = pad + barH + pad + GLYPH_HEIGHT * s + pad;
  if (boxW + 4 * s > img.width || boxH + 4 * s > img.height) return img;
  const data = new Uint8Array(img.data);
  const out: RgbImage = { width: img.width, height: img.height, data };
  const x0 = 2 * s;
  const y0 = img.height - boxH - 2 * s;
  for (let y = y0; y < y0 + boxH; y++) for (let x = x0; x < x0 + boxW; x++) data.set([0, 0, 0], (y * img.width + x) * 3);
  const ramp = applyColormap(Float32Array.from({ length: barW }, (_, i) => i / Math.max(1, barW - 1)), colormap, 0, 1);
  for (let y = y0 + pad; y < y0 + pad + barH; y++) for (let i = 0; i < barW; i++) data.set(ramp.subarray(3 * i, 3 * i + 3), (y * img.width + x0 + pad + i) * 3);
  const ty = y0 + pad + barH + pad;
  drawTextInPlace(out, lo, x0 + pad, ty, { scale: s });
  drawTextInPlace(out, hi, x0 + pad + barW - textWidth(hi, s), ty, { scale: s });
  return out;
}

/** The raw depth in metres, [height, width] float32, as `.npy` or `.safetensors` (by extension). */
export async function writeRawDepth(path: string, d: DepthImage, metadata: Record<string, string> = {}): Promise<void> {
  if (/\.npy$/i.test(path)) await writeFile(path, encodeNpy(d.depth, [d.height, d.width]));
  else if (/\.safetensors$/i.test(path)) await writeSafetensors(path, [{ key: 'depth', dtype: 'F32', shape: [d.height, d.width], data: d.depth }], { unit: 'metre', ...metadata });
  else throw new Error(`${path}: raw depth is written as .npy or .safetensors`);
}
