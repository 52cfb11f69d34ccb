/**
 * Pillow's `Image.resize` for 8-bit images (libImaging/Resample.c), reproduced to the bit because the
 * official evaluation transform is torchvision on PIL images, and a resize that is off by one grey level
 * changes the network input.
 *
 * What has to match, and why each detail is kept:
 * - Kernels are stretched by the scale when downsampling (antialiasing): support = filter support × max(scale, 1).
 * - Each output pixel's taps are [trunc(center − support + 0.5), trunc(center + support + 0.5)) clipped to the
 *   image; out-of-range taps are dropped, not clamped, and the rest renormalised to sum 1 (in double).
 * - The weights are then quantised to 22-bit fixed point (PRECISION_BITS = 32 − 8 − 2) by rounding half away
 *   from zero, accumulated in integers starting from half an LSB, shifted back and clipped to 0..255.
 * - Two passes, horizontal first, and the intermediate image is stored as 8-bit: rounding happens twice.
 *   The horizontal pass only covers the rows the vertical pass will read (same values, less work).
 */
import { rgbImage, type RgbImage } from './image.js';

export type ResampleFilter = 'bicubic' | 'bilinear';

const PRECISION_BITS = 32 - 8 - 2;
const CHANNELS = 3;

interface Kernel {
  support: number;
  weight(x: number): number;
}

const KERNELS: Record<ResampleFilter, Kernel> = {
  bilinear: {
    support: 1,
    weight(x) {
      if (x < 0) x = -x;
      return x < 1 ? 1 - x : 0;
    },
  },
  bicubic: {
    support: 2,
    // Keys' cubic with a = −0.5, written in Pillow's operation order so every double rounding is the same.
    weight(x) {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

/** Per output position: the first input tap, the tap count, and `ksize` fixed-point weights. */
interface Taps {
  ksize: number;
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

function taps(inSize: number, outSize: number, kernel: Kernel): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = kernel.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  // Pillow multiplies by the reciprocal rather than dividing; kept for identical rounding.
  const invScale = 1 / filterScale;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < n; x++) {
      w[x] = kernel.weight((x + xmin - center + 0.5) * invScale);
      sum += w[x]!;
    }
    for (let x = 0; x < n; x++) {
      const k = sum !== 0 ? w[x]! / sum : w[x]!;
      weights[xx * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * (1 << PRECISION_BITS) : 0.5 + k * (1 << PRECISION_BITS));
    }
    first[xx] = xmin;
    count[xx] = n;
  }
  return { ksize, first, count, weights };
}

// Accumulators are int32 (Math.imul, `| 0`) like Pillow's `int`; for normalised kernels they never overflow.
function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Output columns col0 … col0 + outWidth − 1 of the horizontal pass, for source rows row0 … row0 + rows − 1. */
function horizontal(src: Uint8Array, srcWidth: number, row0: number, rows: number, outWidth: number, t: Taps, col0 = 0): Uint8Array {
  const out = new Uint8Array(outWidth * rows * CHANNELS);
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < rows; y++) {
    const rowBase = (y + row0) * srcWidth * CHANNELS;
    const outBase = y * outWidth * CHANNELS;
    for (let xx = 0; xx < outWidth; xx++) {
      const kBase = (xx + col0) * t.ksize;
      const n = t.count[xx + col0]!;
      let p = rowBase + t.first[xx + col0]! * CHANNELS;
      let r = half;
      let g = half;
      let b = half;
      for (let x = 0; x < n; x++, p += CHANNELS) {
        const k = t.weights[kBase + x]!;
        r = (r + Math.imul(src[p]!, k)) | 0;
        g = (g + Math.imul(src[p + 1]!, k)) | 0;
        b = (b + Math.imul(src[p + 2]!, k)) | 0;
      }
      const o = outBase + xx * CHANNELS;
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
    }
  }
  return out;
}

/**
 * Output rows row0 … row0 + outHeight − 1 of the vertical pass; `rowOffset` shifts the taps when `src`
 * holds only the rows from `rowOffset` on.
 */
function vertical(src: Uint8Array, width: number, rowOffset: number, outHeight: number, t: Taps, row0 = 0): Uint8Array {
  const stride = width * CHANNELS;
  const out = new Uint8Array(outHeight * stride);
  const half = 1 << (PRECISION_BITS - 1);
  const acc = new Int32Array(stride);
  for (let yy = 0; yy < outHeight; yy++) {
    const kBase = (yy + row0) * t.ksize;
    const n = t.count[yy + row0]!;
    acc.fill(half);
    // Row by row so that memory is read sequentially; the per-sample sums are the same as Pillow's.
    for (let y = 0; y < n; y++) {
      const k = t.weights[kBase + y]!;
      const row = (t.first[yy + row0]! - rowOffset + y) * stride;
      for (let i = 0; i < stride; i++) acc[i] = (acc[i]! + Math.imul(src[row + i]!, k)) | 0;
    }
    const outBase = yy * stride;
    for (let i = 0; i < stride; i++) out[outBase + i] = clip8(acc[i]!);
  }
  return out;
}

/** A rectangle of an image: columns left … left + width − 1, rows top … top + height − 1. */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** PIL `img.resize((width, height), filter)` on an RGB image (no box, no reducing_gap). */
export function resize(img: RgbImage, width: number, height: number, filter: ResampleFilter = 'bicubic'): RgbImage {
  if (width === img.width && height === img.height) return rgbImage(width, height, img.data.slice());
  return resizeCropped(img, width, height, { left: 0, top: 0, width, height }, filter);
}

/**
 * `resize(img, width, height)` cropped to `box` (which must lie inside width × height), computing only the
 * pixels inside the box: each output pixel has the same taps and the same two roundings as in the full
 * resize, so the result is byte-identical to resizing and then cropping. The eval transform's center crop
 * keeps 224 of 256 rows and columns; this skips the rest.
 */
export function resizeCropped(img: RgbImage, width: number, height: number, box: Box, filter: ResampleFilter = 'bicubic'): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`resize: invalid target size ${width}x${height}`);
  }
  const kernel = KERNELS[filter];
  if (!kernel) throw new Error(`resize: unknown filter '${String(filter)}' (expected 'bicubic' or 'bilinear')`);
  const { left, top, width: bw, height: bh } = box;
  if (![left, top, bw, bh].every(Number.isInteger) || left < 0 || top < 0 || bw <= 0 || bh <= 0 || left + bw > width || top + bh > height) {
    throw new Error(`resize: crop box ${bw}x${bh} at (${left}, ${top}) is not inside the ${width}x${height} result`);
  }
  const stride = img.width * CHANNELS;
  const vert = height !== img.height ? taps(img.height, height, kernel) : null;
  // The source rows the output rows read.
  const firstRow = vert ? vert.first[top]! : top;
  const endRow = vert ? vert.first[top + bh - 1]! + vert.count[top + bh - 1]! : top + bh;
  let data: Uint8Array;
  if (width !== img.width) {
    data = horizontal(img.data, img.width, firstRow, endRow - firstRow, bw, taps(img.width, width, kernel), left);
  } else {
    data = new Uint8Array((endRow - firstRow) * bw * CHANNELS);
    for (let y = firstRow; y < endRow; y++) {
      const from = y * stride + left * CHANNELS;
      data.set(img.data.subarray(from, from + bw * CHANNELS), (y - firstRow) * bw * CHANNELS);
    }
  }
  if (vert) data = vertical(data, bw, firstRow, bh, vert, top);
  return rgbImage(bw, bh, data);
}
