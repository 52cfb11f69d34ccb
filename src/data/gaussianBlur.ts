/**
 * torchvision 0.14 `F.gaussian_blur` on a PIL image, reproduced to the byte. torchvision turns the image into
 * a uint8 tensor, blurs it in float32 and rounds back, so every float32 rounding of PyTorch 1.13's CPU kernels
 * shows in the output. What is reproduced, and where it comes from (x86-64 AVX2 build, like
 * `torchLinspaceFloat32`; an AVX-512 dispatch would sum the kernel in another order):
 * - the 1-D kernel: `torch.linspace`, `x / sigma` (sigma cast to float32), `.pow(2)` as `x * x`, `* -0.5`,
 *   `torch.exp` through SLEEF's `expf_u10` (AVX2, fused multiply-adds, not correctly rounded), then
 *   `pdf / pdf.sum()` with the sum in ATen's reduction order;
 * - the 2-D kernel as the outer product `mm(ky[:, None], kx[None, :])`: one float32 product per tap;
 * - 'reflect' padding by k // 2 (edge pixel not repeated), then a depthwise conv2d that PyTorch hands to
 *   oneDNN: per output, one float32 accumulator starting at 0, taps row by row, each a fused multiply-add;
 * - `torch.round` (ties to even) and the cast to uint8.
 */
import { rgbImage, type RgbImage } from './image.js';
import type { Rng } from '../core/rng.js';
import { roundHalfEven } from '../core/pythonMath.js';
import { torchLinspaceFloat32 } from '../core/torchLinspace.js';

const f32 = Math.fround;

/**
 * A float32 fused multiply-add `a * b + c` rounded once. For float32 inputs `a * b` is exact in a double;
 * the double sum can round, and rounding that to float32 again is wrong only when it lands exactly halfway
 * between two float32 values: then the sign of the lost part decides.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f32(s);
  if (r === s) return r;
  const other = 2 * s - r;
  if (f32(other) !== other) return r;
  // s is a midpoint between r and other: round towards the side of the part the double sum lost.
  const bp = s - c;
  const err = p - bp + (c - (s - bp));
  if (err === 0) return r;
  return err > 0 === other > r ? other : r;
}

const R_LN2F = f32(1.442695040888963407359924681001892137426645954152985934135449406931);
const L2UF = f32(0.693145751953125);
const L2LF = f32(1.428606765330187045e-6);
const EXP_POLY = [
  0.000198527617612853646278381, 0.00139304355252534151077271, 0.00833336077630519866943359,
  0.0416664853692054748535156, 0.166666671633720397949219, 0.5,
].map(f32);

/** SLEEF 3.5 `xexpf` (u10) as built for AVX2, which `torch.exp` uses for float32 on the CPU. */
export function sleefExpf(d: number): number {
  if (d < -104) return 0;
  if (d > 100) return Infinity;
  const q = roundHalfEven(f32(d * R_LN2F)); // _mm256_cvtps_epi32 in the default mode: nearest, ties to even
  let s = fmaf(q, -L2UF, d);
  s = fmaf(q, -L2LF, s);
  let u = EXP_POLY[0]!;
  for (let i = 1; i < EXP_POLY.length; i++) u = fmaf(u, s, EXP_POLY[i]!);
  u = f32(1 + fmaf(f32(s * s), u, s));
  // vldexp2: two power-of-two factors so that neither overflows the exponent field.
  const h = q >> 1;
  return f32(f32(u * 2 ** h) * 2 ** (q - h));
}

/**
 * ATen's `row_sum` for fewer than 64 rows (where the cascade's higher levels stay empty): rows are summed
 * into four interleaved partial sums, the leftover rows into the first, then the four are folded. A row is
 * `lanes` wide; the sums are lane-wise.
 */
function rowSum(v: Float32Array, rows: number, lanes: number): Float64Array {
  const partial = [0, 1, 2, 3].map(() => new Float64Array(lanes));
  const ilp = Math.floor(rows / 4);
  for (let r = 0; r < rows; r++) {
    const acc = r < ilp * 4 ? partial[r % 4]! : partial[0]!;
    for (let l = 0; l < lanes; l++) acc[l] = f32(acc[l]! + v[r * lanes + l]!);
  }
  const sum = partial[0]!;
  for (let k = 1; k < 4; k++) for (let l = 0; l < lanes; l++) sum[l] = f32(sum[l]! + partial[k]![l]!);
  return sum;
}

/**
 * `tensor.sum()` of a short contiguous float32 vector in ATen's order. From 8 elements on it takes the
 * vectorised path (8-lane AVX2 vectors as rows, then the scalar tail, then the lanes one by one); below, the
 * scalar `row_sum`.
 */
function torchSumFloat32(v: Float32Array): number {
  const n = v.length;
  if (n >= 8 * 64) throw new Error(`torchSumFloat32: ${n} elements not supported`);
  if (n < 8) return rowSum(v, n, 1)[0]!;
  const rows = Math.floor(n / 8);
  const lanes = rowSum(v, rows, 8);
  let acc = 0;
  for (let i = rows * 8; i < n; i++) acc = f32(acc + v[i]!);
  for (let l = 0; l < 8; l++) acc = f32(acc + lanes[l]!);
  return acc;
}

/** torchvision's `_get_gaussian_kernel1d(kernelSize, sigma)` in float32. */
export function gaussianKernel1d(kernelSize: number, sigma: number): Float32Array {
  const half = (kernelSize - 1) * 0.5;
  const x = torchLinspaceFloat32(-half, half, kernelSize);
  const s = f32(sigma);
  const pdf = new Float32Array(kernelSize);
  for (let i = 0; i < kernelSize; i++) {
    const t = f32(x[i]! / s);
    pdf[i] = sleefExpf(f32(-0.5 * f32(t * t)));
  }
  const sum = torchSumFloat32(pdf);
  return pdf.map((p) => f32(p / sum));
}

/** PyTorch's 'reflect' padding as an index map: -1 → 1, size → size - 2. */
function reflectIndex(size: number, pad: number): Int32Array {
  const map = new Int32Array(size + 2 * pad);
  for (let i = 0; i < map.length; i++) {
    const p = i - pad;
    map[i] = p < 0 ? -p : p >= size ? 2 * (size - 1) - p : p;
  }
  return map;
}

function isGrey(rgb: Uint8Array): boolean {
  for (let i = 0; i < rgb.length; i += 3) if (rgb[i] !== rgb[i + 1] || rgb[i] !== rgb[i + 2]) return false;
  return true;
}

/** `F.gaussian_blur(img, kernelSize, sigma)` on a PIL RGB image (square kernel, one sigma for both axes). */
export function gaussianBlur(img: RgbImage, kernelSize: number, sigma: number): RgbImage {
  if (!Number.isInteger(kernelSize) || kernelSize <= 0 || kernelSize % 2 === 0) {
    throw new Error(`gaussianBlur: kernel size must be an odd positive integer, got ${kernelSize}`);
  }
  if (!(sigma > 0)) throw new Error(`gaussianBlur: sigma must be positive, got ${sigma}`);
  const { width, height } = img;
  const pad = Math.floor(kernelSize / 2);
  if (pad >= width || pad >= height) {
    throw new Error(`gaussianBlur: reflect padding ${pad} needs an image larger than ${pad}x${pad}, got ${width}x${height}`);
  }
  const k1 = gaussianKernel1d(kernelSize, sigma);
  const k2 = new Float64Array(kernelSize * kernelSize);
  for (let i = 0; i < kernelSize; i++) for (let j = 0; j < kernelSize; j++) k2[i * kernelSize + j] = f32(k1[i]! * k1[j]!);

  const rowMap = reflectIndex(height, pad);
  const colMap = reflectIndex(width, pad);
  const src = img.data;
  const out = rgbImage(width, height);
  // Channels are blurred independently, so a grey image (R = G = B everywhere: grey data sets, and crops
  // after RandomGrayscale) needs one channel computed and copied: the same bytes at a third of the work.
  const channels = isGrey(src) ? 1 : 3;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let i = 0; i < kernelSize; i++) {
          const row = rowMap[y + i]! * width;
          for (let j = 0; j < kernelSize; j++) acc = fmaf(src[(row + colMap[x + j]!) * 3 + c]!, k2[i * kernelSize + j]!, acc);
        }
        // torch.round then .to(uint8); the positive kernel keeps the sum within [0, 255.5).
        out.data[(y * width + x) * 3 + c] = roundHalfEven(acc);
      }
      if (channels === 1) {
        const o = (y * width + x) * 3;
        out.data[o + 1] = out.data[o + 2] = out.data[o]!;
      }
    }
  }
  return out;
}

/**
 * `transforms.GaussianBlur.get_params`: `torch.empty(1).uniform_(min, max).item()`. PyTorch takes the low 24
 * bits of one 32-bit draw as a float32 in [0, 1) and computes `x * (to - from) + from` in float32 with the
 * bounds cast to float32; GCC fuses it into one multiply-add in the AVX2 kernel (checked against torch 1.13).
 */
export function gaussianBlurSigma(rng: Rng, [min, max]: readonly [number, number] = [0.1, 2.0]): number {
  const from = f32(min);
  const to = f32(max);
  const x = (rng.nextUint32() & 0xffffff) / 0x1000000;
  return fmaf(x, f32(to - from), from);
}
