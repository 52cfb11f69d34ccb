/**
 * The geometric steps of DINOv2's multi-crop augmentation as torchvision 0.14 runs them on PIL images:
 * `RandomResizedCrop` (parameter draw, crop, bicubic resize) and `RandomHorizontalFlip`'s flip. The pixel
 * operations are byte-exact to PIL; the parameter draw follows torchvision's algorithm with our `Rng`.
 */
import { crop, rgbImage, type RgbImage } from './image.js';
import { resize, type ResampleFilter } from './resample.js';
import type { Rng } from '../core/rng.js';
import { roundHalfEven } from '../core/pythonMath.js';

export interface CropParams {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * `RandomResizedCrop.get_params`: up to 10 tries of an area fraction drawn from `scale` and a log-uniform
 * aspect ratio from `ratio`, kept when the rounded box fits; then a central crop clamped to `ratio`.
 * Python's `round` (ties to even) sizes the box and the offsets are uniform over every fitting position.
 * torch draws the fraction and ratio as float32 values; here they are doubles, which only matters below
 * float32 resolution, since the random stream differs from torch's anyway.
 */
export function randomResizedCropParams(
  rng: Rng,
  width: number,
  height: number,
  scale: readonly [number, number],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropParams {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspectRatio = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspectRatio));
    const h = roundHalfEven(Math.sqrt(targetArea / aspectRatio));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      // torch.randint(0, H - h + 1): the upper bound is exclusive, so the box may touch the bottom/right edge.
      const top = rng.int(0, height - h + 1);
      const left = rng.int(0, width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  const minRatio = Math.min(ratio[0], ratio[1]);
  const maxRatio = Math.max(ratio[0], ratio[1]);
  let w = width;
  let h = height;
  if (inRatio < minRatio) h = roundHalfEven(w / minRatio);
  else if (inRatio > maxRatio) w = roundHalfEven(h * maxRatio);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}


/**
 * torchvision `F.resized_crop` on PIL: crop, then `img.resize((w, h), filter)`. A number means a square
 * output, as `RandomResizedCrop(size)` turns an int into `(size, size)` (unlike `F.resized_crop` with an int,
 * which would match the shorter edge); a pair is `[height, width]` as in torchvision.
 */
export function resizedCrop(
  img: RgbImage,
  params: CropParams,
  size: number | readonly [number, number],
  filter: ResampleFilter = 'bicubic',
): RgbImage {
  const [outHeight, outWidth] = typeof size === 'number' ? [size, size] : size;
  return resize(crop(img, params.top, params.left, params.height, params.width), outWidth, outHeight, filter);
}

/** torchvision `F.hflip` on PIL: `img.transpose(Image.FLIP_LEFT_RIGHT)`. */
export function hflip(img: RgbImage): RgbImage {
  const { width, height, data } = img;
  const out = rgbImage(width, height);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const s = row + x * 3;
      const d = row + (width - 1 - x) * 3;
      out.data[d] = data[s]!;
      out.data[d + 1] = data[s + 1]!;
      out.data[d + 2] = data[s + 2]!;
    }
  }
  return out;
}
