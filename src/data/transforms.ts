/**
 * The torchvision transforms the official DINOv2 code applies to PIL images (`dinov2/data/transforms.py`),
 * with torchvision's integer and float32 semantics so that the tensors are identical, not merely close:
 * - `Resize(size)`: the long side is `int(size * long / short)` (truncated, Python float division).
 * - `CenterCrop`: offset `int(round((H - crop) / 2.0))` with Python's round-half-to-even; zero padding first
 *   when the crop is larger than the image.
 * - `ToTensor`: uint8 → float32 by an IEEE float32 division by 255.
 * - `Normalize`: `(x - mean) / std` in float32 with mean and std rounded to float32 first.
 */
import { Tensor } from '../core/tensor.js';
import { crop, type RgbImage } from './image.js';
import { roundHalfEven } from '../core/pythonMath.js';
import { resize, resizeCropped, type ResampleFilter } from './resample.js';

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

export interface NormalizeOptions {
  mean?: readonly number[];
  std?: readonly number[];
}

/** The size torchvision's `Resize(size)` (a single int, optional `max_size`) gives a `width`×`height` image. */
export function shorterSideSize(
  width: number,
  height: number,
  size: number,
  maxSize?: number,
): { width: number; height: number } {
  if (!Number.isInteger(size) || size <= 0) throw new Error(`shorterSideSize: size must be a positive integer, got ${size}`);
  const [short, long] = width <= height ? [width, height] : [height, width];
  let newShort = size;
  let newLong = Math.trunc((size * long) / short);
  if (maxSize !== undefined) {
    if (maxSize <= size) throw new Error(`shorterSideSize: maxSize ${maxSize} must be greater than size ${size}`);
    if (newLong > maxSize) {
      newShort = Math.trunc((maxSize * newShort) / newLong);
      newLong = maxSize;
    }
  }
  return width <= height ? { width: newShort, height: newLong } : { width: newLong, height: newShort };
}

/** torchvision `Resize(size, interpolation)` on a PIL image. */
export function resizeShorterSide(
  img: RgbImage,
  size: number,
  opts: { filter?: ResampleFilter; maxSize?: number } = {},
): RgbImage {
  const target = shorterSideSize(img.width, img.height, size, opts.maxSize);
  return resize(img, target.width, target.height, opts.filter ?? 'bicubic');
}

/** torchvision `CenterCrop(size)`; `size` is one side or `[height, width]`. */
export function centerCrop(img: RgbImage, size: number | readonly [number, number]): RgbImage {
  const [cropH, cropW] = typeof size === 'number' ? [size, size] : size;
  if (![cropH, cropW].every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`centerCrop: invalid crop size ${cropH}x${cropW}`);
  }
  // torchvision pads (left/top get the floor half) and then crops the padded image; the padded image has
  // exactly the crop size along a padded axis, so its offset there is −pad.
  const top = cropH > img.height ? -Math.floor((cropH - img.height) / 2) : roundHalfEven((img.height - cropH) / 2);
  const left = cropW > img.width ? -Math.floor((cropW - img.width) / 2) : roundHalfEven((img.width - cropW) / 2);
  return crop(img, top, left, cropH, cropW);
}

/** torchvision `ToTensor` on an RGB image: float32 [3, H, W] in [0, 1]. */
export function toTensor(img: RgbImage): Tensor<'float32'> {
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  // One table lookup per pixel; each entry is float32(v / 255), which is what torch's float32 division gives.
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = v / 255;
  const src = img.data;
  for (let i = 0; i < plane; i++) {
    out[i] = table[src[i * 3]!]!;
    out[plane + i] = table[src[i * 3 + 1]!]!;
    out[2 * plane + i] = table[src[i * 3 + 2]!]!;
  }
  return Tensor.float32(out, [3, img.height, img.width]);
}

/** torchvision `Normalize(mean, std)` on a float32 [C, H, W] or [B, C, H, W] tensor; returns a new tensor. */
export function normalize(t: Tensor<'float32'>, opts: NormalizeOptions = {}): Tensor<'float32'> {
  const mean = opts.mean ?? IMAGENET_MEAN;
  const std = opts.std ?? IMAGENET_STD;
  if (t.rank !== 3 && t.rank !== 4) throw new Error(`normalize: expected [C,H,W] or [B,C,H,W], got [${t.shape.join(', ')}]`);
  const channels = t.shape[t.rank - 3]!;
  if (mean.length !== channels || std.length !== channels) {
    throw new Error(`normalize: ${channels} channels but mean has ${mean.length} and std ${std.length} values`);
  }
  const plane = t.shape[t.rank - 1]! * t.shape[t.rank - 2]!;
  const out = new Float32Array(t.size);
  for (let c = 0; c < channels; c++) {
    const m = Math.fround(mean[c]!);
    const s = Math.fround(std[c]!);
    if (s === 0) throw new Error(`normalize: std[${c}] is zero`);
    for (let base = c * plane; base < t.size; base += channels * plane) {
      for (let i = base; i < base + plane; i++) out[i] = Math.fround(t.data[i]! - m) / s;
    }
  }
  return Tensor.float32(out, t.shape);
}

export interface EvalTransformOptions extends NormalizeOptions {
  /** Shorter side after resizing (official: 256). */
  resize?: number;
  /** Square center crop (official: 224). */
  crop?: number;
  filter?: ResampleFilter;
}

/**
 * The official classification evaluation transform (`make_classification_eval_transform`): Resize(256, bicubic),
 * CenterCrop(224), ToTensor, Normalize(ImageNet) → float32 [3, 224, 224].
 */
export function evalTransform(img: RgbImage, opts: EvalTransformOptions = {}): Tensor<'float32'> {
  const filter = opts.filter ?? 'bicubic';
  const side = opts.crop ?? 224;
  const target = shorterSideSize(img.width, img.height, opts.resize ?? 256);
  if (side > target.width || side > target.height) return normalize(toTensor(centerCrop(resizeShorterSide(img, opts.resize ?? 256, { filter }), side)), opts);
  // Only the center crop of the resized image is computed (byte-identical to resizing, then cropping).
  const box = { top: roundHalfEven((target.height - side) / 2), left: roundHalfEven((target.width - side) / 2), width: side, height: side };
  const cropped = target.width === img.width && target.height === img.height ? crop(img, box.top, box.left, side, side) : resizeCropped(img, target.width, target.height, box, filter);
  return normalize(toTensor(cropped), opts);
}

export interface DenseTransformOptions extends NormalizeOptions {
  /** Target shorter side (default 518 = 37 patches of 14); rounded to the nearest multiple of `patchSize`. */
  shorterSide?: number;
  patchSize?: number;
  filter?: ResampleFilter;
}

/**
 * The (width, height) `denseTransform` resizes to. Rule: each side becomes the nearest multiple of
 * `patchSize` (ties up, at least one patch) to its exactly-scaled length, where the scale maps the shorter side
 * to `shorterSide`. So the shorter side is `shorterSide` itself when that is a multiple of the patch, and the
 * aspect ratio is kept to within half a patch on the longer side; nothing is cropped.
 */
export function denseSize(
  width: number,
  height: number,
  opts: { shorterSide?: number; patchSize?: number } = {},
): { width: number; height: number } {
  const target = opts.shorterSide ?? 518;
  const patch = opts.patchSize ?? 14;
  if (!(target > 0) || !Number.isInteger(patch) || patch <= 0) {
    throw new Error(`denseSize: invalid shorterSide ${target} or patchSize ${patch}`);
  }
  const short = Math.min(width, height);
  const snap = (len: number): number => Math.max(patch, Math.round(len / patch) * patch);
  return { width: snap((width * target) / short), height: snap((height * target) / short) };
}

/**
 * For dense (patch-level) features at any aspect ratio: one PIL-bicubic resize to `denseSize`, then ToTensor and
 * Normalize → float32 [3, H, W] with H and W multiples of the patch size.
 */
export function denseTransform(img: RgbImage, opts: DenseTransformOptions = {}): Tensor<'float32'> {
  const size = denseSize(img.width, img.height, opts);
  return normalize(toTensor(resize(img, size.width, size.height, opts.filter ?? 'bicubic')), opts);
}

/** Stacks [3, H, W] tensors of one size into [B, 3, H, W]. */
export function batchTensors(tensors: readonly Tensor<'float32'>[]): Tensor<'float32'> {
  if (tensors.length === 0) throw new Error('batchTensors: no tensors');
  tensors.forEach((t, i) => {
    if (t.rank !== 3) throw new Error(`batchTensors: tensor ${i} has shape [${t.shape.join(', ')}], expected [C, H, W]`);
  });
  return Tensor.stack(tensors);
}

/** The eval-transform resize for a crop side: the official 256/224 ratio, rounded. */
export function evalResizeFor(size: number): number {
  return Math.round((size * 256) / 224);
}

/** The transform `opts` selects, as a function of a decoded image. */
export function embedTransform(opts: { size?: number; dense?: number }, patchSize: number): (img: RgbImage) => Tensor<'float32'> {
  if (opts.dense !== undefined) return (img) => denseTransform(img, { shorterSide: opts.dense, patchSize });
  const size = opts.size ?? 224;
  return (img) => evalTransform(img, { resize: evalResizeFor(size), crop: size });
}
