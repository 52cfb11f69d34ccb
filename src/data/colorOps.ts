/**
 * The colour steps of DINOv2's multi-crop augmentation as torchvision 0.14 runs them on PIL images
 * (Pillow 9.4), byte for byte: brightness / contrast / saturation are `ImageEnhance` blends, hue goes
 * through Pillow's HSV conversion with numpy uint8 wraparound, grayscale is Pillow's 'L' conversion and
 * solarize is `ImageOps.solarize`. Every function returns a new image.
 *
 * Pillow's C code mixes float32 and double arithmetic; `Math.fround` marks each place where the C code
 * stores or computes in `float`, so that the rounding (and hence the truncation to uint8) is the same.
 */
import { rgbImage, type RgbImage } from './image.js';
import type { Rng } from '../core/rng.js';

const f32 = Math.fround;

/** Pillow's `L24(rgb) >> 16` (Convert.c `rgb2l`): ITU-R 601-2 luma in 16.16 fixed point, rounded by +0x8000. */
function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
}

/**
 * `Image.blend(degenerate, img, factor)`, i.e. Pillow's `ImagingBlend(in1, in2, alpha)`. Python's double
 * factor becomes a C `float`; `in1 + alpha * (in2 - in1)` is float arithmetic (int operands promoted to
 * float, x86-64 SSE, no FMA). Interpolation (0 ≤ alpha ≤ 1) cannot leave [0, 255]; extrapolation clips
 * at 0 and 255. Both cases then truncate toward zero by the `(UINT8)` cast. alpha 0 / 1 copy in1 / in2,
 * which the formula reproduces exactly.
 */
function blend(degenerate: Uint8Array, img: RgbImage, factor: number): RgbImage {
  if (!Number.isFinite(factor)) throw new Error(`blend: factor must be finite, got ${factor}`);
  const alpha = f32(factor);
  const src = img.data;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const a = degenerate[i]!;
    const v = f32(a + f32(alpha * (src[i]! - a)));
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
  }
  return rgbImage(img.width, img.height, out);
}

/** torchvision `F.adjust_brightness` on PIL = `ImageEnhance.Brightness`: a blend with an all-black image. */
export function adjustBrightness(img: RgbImage, factor: number): RgbImage {
  return blend(new Uint8Array(img.data.length), img, factor);
}

/**
 * torchvision `F.adjust_contrast` on PIL = `ImageEnhance.Contrast`: a blend with a uniform grey of
 * `int(ImageStat.Stat(img.convert('L')).mean[0] + 0.5)`. The histogram sum is an exact integer in a
 * double, so summing the luma directly gives the same mean.
 */
export function adjustContrast(img: RgbImage, factor: number): RgbImage {
  const d = img.data;
  let sum = 0;
  for (let i = 0; i < d.length; i += 3) sum += luma(d[i]!, d[i + 1]!, d[i + 2]!);
  const mean = Math.floor(sum / (img.width * img.height) + 0.5);
  return blend(new Uint8Array(d.length).fill(mean), img, factor);
}

/** torchvision `F.adjust_saturation` on PIL = `ImageEnhance.Color`: a blend with `convert('L').convert('RGB')`. */
export function adjustSaturation(img: RgbImage, factor: number): RgbImage {
  return blend(toGrayscaleRgb(img).data, img, factor);
}

/**
 * torchvision `F.rgb_to_grayscale(img, 3)` on PIL: `img.convert('L')` stacked into three equal channels
 * (what `RandomGrayscale` gives for an RGB image).
 */
export function toGrayscaleRgb(img: RgbImage): RgbImage {
  const d = img.data;
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i += 3) out[i] = out[i + 1] = out[i + 2] = luma(d[i]!, d[i + 1]!, d[i + 2]!);
  return rgbImage(img.width, img.height, out);
}

/** `ImageOps.solarize` (torchvision `F.solarize` on PIL): a LUT inverting every value ≥ threshold. */
export function solarize(img: RgbImage, threshold = 128): RgbImage {
  const out = img.data.map((v) => (v >= threshold ? 255 - v : v));
  return rgbImage(img.width, img.height, out);
}

/** Pillow's `rgb2hsv_row` (Convert.c): `float` locals, but `2.0 + …`, `/ 6.0`, `fmod` and `* 255.0` in double. */
function rgbToHsv(r: number, g: number, b: number, out: Uint8Array, o: number): void {
  const maxc = Math.max(r, g, b);
  const minc = Math.min(r, g, b);
  out[o + 2] = maxc;
  if (maxc === minc) {
    out[o] = 0;
    out[o + 1] = 0;
    return;
  }
  const cr = maxc - minc;
  const s = f32(cr / maxc);
  const rc = f32((maxc - r) / cr);
  const gc = f32((maxc - g) / cr);
  const bc = f32((maxc - b) / cr);
  // Ties go to the first branch in Pillow's order r, g, b.
  let h = r === maxc ? f32(bc - gc) : g === maxc ? f32(2.0 + rc - bc) : f32(4.0 + gc - rc);
  // JS `%` on doubles is C's fmod, exact.
  h = f32((h / 6.0 + 1.0) % 1.0);
  // (int) truncates; both products lie in [0, 255], so CLIP8 never acts.
  out[o] = Math.trunc(h * 255.0);
  out[o + 1] = Math.trunc(s * 255.0);
}

/**
 * Pillow's `hsv2rgb` (Convert.c): `i`, `f` from `h * 6.0 / 255.0` in double, `f` and `fs` stored as float,
 * `fs * f` a float product, everything else double, then C `round` (half away from zero; for these
 * non-negative values the same as `Math.round`).
 */
function hsvToRgb(h: number, s: number, v: number, out: Uint8Array, o: number): void {
  if (s === 0) {
    out[o] = out[o + 1] = out[o + 2] = v;
    return;
  }
  const i = Math.floor((h * 6.0) / 255.0);
  const f = f32((h * 6.0) / 255.0 - i);
  const fs = f32(s / 255.0);
  const p = Math.round(v * (1.0 - fs));
  const q = Math.round(v * (1.0 - f32(fs * f)));
  const t = Math.round(v * (1.0 - fs * (1.0 - f)));
  let r: number, g: number, b: number;
  // h = 255 gives i = 6, which Pillow folds onto sector 0 by `i % 6`.
  switch (i % 6) {
    case 0: [r, g, b] = [v, t, p]; break;
    case 1: [r, g, b] = [q, v, p]; break;
    case 2: [r, g, b] = [p, v, t]; break;
    case 3: [r, g, b] = [p, q, v]; break;
    case 4: [r, g, b] = [t, p, v]; break;
    default: [r, g, b] = [v, p, q];
  }
  out[o] = r;
  out[o + 1] = g;
  out[o + 2] = b;
}

/**
 * torchvision `F.adjust_hue` on PIL: convert to HSV, add `np.uint8(hue_factor * 255)` to H with uint8
 * wraparound, convert back. numpy 1.24 casts the float by truncating toward zero and then wrapping modulo
 * 256 (observed: -25.5 → 231, -0.3 → 0, -127.5 → 129), so a negative shift is `256 - trunc(|x|)`.
 */
export function adjustHue(img: RgbImage, hueFactor: number): RgbImage {
  if (!(hueFactor >= -0.5 && hueFactor <= 0.5)) throw new Error(`adjustHue: hueFactor (${hueFactor}) is not in [-0.5, 0.5]`);
  const shift = (Math.trunc(hueFactor * 255) + 256) & 255;
  const d = img.data;
  const out = new Uint8Array(d.length);
  const hsv = new Uint8Array(3);
  for (let i = 0; i < d.length; i += 3) {
    rgbToHsv(d[i]!, d[i + 1]!, d[i + 2]!, hsv, 0);
    hsvToRgb((hsv[0]! + shift) & 255, hsv[1]!, hsv[2]!, out, i);
  }
  return rgbImage(img.width, img.height, out);
}

/** A factor range as ColorJitter accepts it: a number `v` (meaning [c − v, c + v]) or an explicit [min, max]. */
export type JitterRange = number | readonly [number, number];

export interface ColorJitterOptions {
  brightness?: JitterRange;
  contrast?: JitterRange;
  saturation?: JitterRange;
  hue?: JitterRange;
}

export interface ColorJitterParams {
  /** Application order of brightness (0), contrast (1), saturation (2), hue (3), as `torch.randperm(4)`. */
  order: number[];
  brightness?: number;
  contrast?: number;
  saturation?: number;
  hue?: number;
}

/**
 * torchvision `ColorJitter._check_input`: a number becomes [center − v, center + v] (clipped at 0 for the
 * factors), the range must lie within the bounds, and a range collapsed onto the center means "skip".
 */
function jitterRange(name: string, value: JitterRange | undefined, center: number, lo: number, hi: number, clipAtZero: boolean): [number, number] | undefined {
  if (value === undefined) return undefined;
  let range: [number, number];
  if (typeof value === 'number') {
    if (!(value >= 0)) throw new Error(`colorJitterParams: ${name} must be non-negative, got ${value}`);
    range = [center - value, center + value];
    if (clipAtZero) range[0] = Math.max(range[0], 0);
  } else {
    range = [value[0], value[1]];
  }
  if (!(lo <= range[0] && range[0] <= range[1] && range[1] <= hi)) {
    throw new Error(`colorJitterParams: ${name} values should be between [${lo}, ${hi}], got [${range[0]}, ${range[1]}]`);
  }
  return range[0] === center && range[1] === center ? undefined : range;
}

/**
 * `ColorJitter.get_params`: first the order (randperm(4)), then one uniform draw per enabled parameter in
 * the order brightness, contrast, saturation, hue. torch's generator is not reproduced (nor its float32
 * rounding of the draws); the algorithm and the draw order are.
 */
export function colorJitterParams(rng: Rng, opts: ColorJitterOptions): ColorJitterParams {
  const ranges = [
    jitterRange('brightness', opts.brightness, 1, 0, Infinity, true),
    jitterRange('contrast', opts.contrast, 1, 0, Infinity, true),
    jitterRange('saturation', opts.saturation, 1, 0, Infinity, true),
    jitterRange('hue', opts.hue, 0, -0.5, 0.5, false),
  ];
  const params: ColorJitterParams = { order: rng.shuffle([0, 1, 2, 3]) };
  const [b, c, s, h] = ranges.map((r) => (r === undefined ? undefined : rng.uniform(r[0], r[1])));
  if (b !== undefined) params.brightness = b;
  if (c !== undefined) params.contrast = c;
  if (s !== undefined) params.saturation = s;
  if (h !== undefined) params.hue = h;
  return params;
}

/** `ColorJitter.forward` with given parameters: each present adjustment, in `params.order`. */
export function colorJitter(img: RgbImage, params: ColorJitterParams): RgbImage {
  let out = img;
  for (const id of params.order) {
    if (id === 0 && params.brightness !== undefined) out = adjustBrightness(out, params.brightness);
    else if (id === 1 && params.contrast !== undefined) out = adjustContrast(out, params.contrast);
    else if (id === 2 && params.saturation !== undefined) out = adjustSaturation(out, params.saturation);
    else if (id === 3 && params.hue !== undefined) out = adjustHue(out, params.hue);
  }
  return out;
}
