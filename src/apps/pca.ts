/**
 * The DINOv2 patch-feature visualisation (the paper's Figure 1, the official PCA notebook):
 * 1. patch tokens of one image (dense transform: aspect ratio kept);
 * 2. PCA over all patches; the first component separates object from background. Its sign is arbitrary, so
 *    it is oriented to make the positive side the smaller one (the object is assumed to cover less of the
 *    frame than the background); foreground = projection > threshold (default 0, as the notebook; 'auto'
 *    = Otsu's threshold on the oriented projections). Projections are in the features' own units, centred
 *    on the mean patch;
 * 3. PCA with 3 components over the foreground patches only, each component min-max scaled to [0, 1] over
 *    the foreground → RGB; background black;
 * 4. the patch map upsampled (nearest: one 14×14 block per patch, or bilinear) to the resized image and
 *    written beside it as one PNG (width 2·W, height H).
 * The covariance is D×D (D ≤ 1536), so its top eigenvectors come from block subspace iteration with a small
 * Jacobi solve for the Rayleigh–Ritz step, in float64.
 */
import { GLYPH_HEIGHT, drawTextInPlace, labelScale, textWidth } from './viz/text.js';
import sharp from 'sharp';
import { decodeImage } from '../data/decode.js';
import type { RgbImage } from '../data/image.js';
import { resize } from '../data/resample.js';
import { denseSize, normalize, toTensor } from '../data/transforms.js';
import type { ImageInput } from '../data/imagePipeline.js';
import type { Dinov2 } from '../models/dinov2.js';

export interface Eigen {
  /** Descending. */
  values: Float64Array;
  /** Row i is the unit eigenvector of values[i] (k rows of n). */
  vectors: Float64Array;
}

/** All eigenpairs of a small symmetric matrix (cyclic Jacobi), sorted descending. */
export function jacobiEigen(a: Float64Array, n: number): Eigen {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += m[i * n + i]! ** 2;
      for (let j = i + 1; j < n; j++) off += m[i * n + j]! ** 2;
    }
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (apq === 0) continue;
        const theta = (m[q * n + q]! - m[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!;
          const mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!;
          const mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j]! - m[i * n + i]!);
  const values = Float64Array.from(order, (i) => m[i * n + i]!);
  const vectors = new Float64Array(n * n);
  order.forEach((col, row) => {
    for (let k = 0; k < n; k++) vectors[row * n + k] = v[k * n + col]!;
  });
  return { values, vectors };
}

/** Orthonormalises the b rows of q (b×n, each a vector) in place: modified Gram–Schmidt, twice for stability. */
function orthonormalize(q: Float64Array[], n: number): void {
  for (let pass = 0; pass < 2; pass++) {
    q.forEach((v, j) => {
      for (let i = 0; i < j; i++) {
        const dot = dotProduct(q[i]!, v, n);
        const u = q[i]!;
        for (let r = 0; r < n; r++) v[r] -= dot * u[r]!;
      }
      const norm = Math.sqrt(dotProduct(v, v, n));
      // A vector that vanished (rank-deficient matrix) is replaced by a unit vector; the next pass orthogonalises it.
      if (norm > 1e-300) for (let r = 0; r < n; r++) v[r] = v[r]! / norm;
      else v.fill(0)[j % n] = 1;
    });
  }
}

/** Σ a[aOffset + r]·b[r]; four accumulators, because a single one serialises on the add latency. */
function dotProduct(a: Float64Array, b: Float64Array, n: number, aOffset = 0): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let r = 0;
  for (; r + 3 < n; r += 4) {
    s0 += a[aOffset + r]! * b[r]!;
    s1 += a[aOffset + r + 1]! * b[r + 1]!;
    s2 += a[aOffset + r + 2]! * b[r + 2]!;
    s3 += a[aOffset + r + 3]! * b[r + 3]!;
  }
  for (; r < n; r++) s0 += a[aOffset + r]! * b[r]!;
  return s0 + s1 + (s2 + s3);
}

/**
 * The k largest eigenpairs of a symmetric positive semi-definite n×n matrix (block subspace iteration with
 * Rayleigh–Ritz). Each vector's sign is fixed so that its largest-magnitude entry is positive.
 */
export function topEigenvectors(a: Float64Array, n: number, k: number, opts: { tol?: number; maxIter?: number } = {}): Eigen {
  k = Math.min(k, n);
  const b = Math.min(n, k + 8);
  const tol = opts.tol ?? 1e-10;
  let seed = 12345;
  let q: Float64Array[] = Array.from({ length: b }, () =>
    Float64Array.from({ length: n }, () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32 - 0.5;
    }),
  );
  orthonormalize(q, n);
  let ritz: Eigen = { values: new Float64Array(b), vectors: new Float64Array(b * b) };
  // Ritz vectors as combinations of the block: out_j = Σ_i V[j, i] · m_i.
  const rotate = (m: Float64Array[]): Float64Array[] =>
    m.map((_, j) => {
      const out = new Float64Array(n);
      for (let i = 0; i < b; i++) {
        const c = ritz.vectors[j * b + i]!;
        const mi = m[i]!;
        for (let r = 0; r < n; r++) out[r] += c * mi[r]!;
      }
      return out;
    });
  for (let it = 0; it < (opts.maxIter ?? 2000); it++) {
    // a is symmetric, so (a·q)[r] is the dot product of row r with q: contiguous memory both ways.
    let z: Float64Array[] = q.map((v) => Float64Array.from({ length: n }, (_, r) => dotProduct(a, v, n, r * n)));
    const t = new Float64Array(b * b);
    for (let i = 0; i < b; i++) for (let j = 0; j <= i; j++) t[i * b + j] = t[j * b + i] = (dotProduct(q[i]!, z[j]!, n) + dotProduct(q[j]!, z[i]!, n)) / 2;
    ritz = jacobiEigen(t, b);
    q = rotate(q);
    z = rotate(z);
    let worst = 0;
    for (let j = 0; j < k; j++) {
      let res = 0;
      for (let r = 0; r < n; r++) res += (z[j]![r]! - ritz.values[j]! * q[j]![r]!) ** 2;
      worst = Math.max(worst, Math.sqrt(res));
    }
    if (worst <= tol * Math.max(Math.abs(ritz.values[0]!), 1e-300)) break;
    q = z;
    orthonormalize(q, n);
  }
  const values = ritz.values.slice(0, k);
  const vectors = new Float64Array(k * n);
  for (let j = 0; j < k; j++) {
    let big = 0;
    for (const v of q[j]!) if (Math.abs(v) > Math.abs(big)) big = v;
    const sign = big < 0 ? -1 : 1;
    for (let r = 0; r < n; r++) vectors[j * n + r] = sign * q[j]![r]!;
  }
  return { values, vectors };
}

export interface Pca {
  mean: Float64Array;
  components: Eigen;
  /** [rows, k]: each selected row's coordinates on the components. */
  projections: Float64Array;
}

/** PCA of the selected rows of x (rows × D, row-major), k components. */
export function pca(x: Float32Array, D: number, k: number, rows?: readonly number[]): Pca {
  const sel = rows ?? Array.from({ length: x.length / D }, (_, i) => i);
  const n = sel.length;
  const mean = new Float64Array(D);
  for (const r of sel) for (let d = 0; d < D; d++) mean[d] += x[r * D + d]!;
  for (let d = 0; d < D; d++) mean[d] /= Math.max(n, 1);
  // Centred features transposed (D × n), so that each covariance entry is one contiguous dot product.
  const cols = new Float64Array(D * n);
  sel.forEach((r, i) => {
    for (let d = 0; d < D; d++) cols[d * n + i] = x[r * D + d]! - mean[d]!;
  });
  const cov = new Float64Array(D * D);
  const colJ = new Float64Array(n);
  for (let j = 0; j < D; j++) {
    colJ.set(cols.subarray(j * n, (j + 1) * n));
    for (let i = 0; i <= j; i++) {
      const v = dotProduct(cols, colJ, n, i * n) / Math.max(n - 1, 1);
      cov[i * D + j] = v;
      cov[j * D + i] = v;
    }
  }
  const components = topEigenvectors(cov, D, k);
  const kk = components.values.length;
  const projections = new Float64Array(n * kk);
  sel.forEach((r, i) => {
    for (let j = 0; j < kk; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += (x[r * D + d]! - mean[d]!) * components.vectors[j * D + d]!;
      projections[i * kk + j] = s;
    }
  });
  return { mean, components, projections };
}

/** Otsu's threshold: the cut between sorted values that maximises the between-class variance. */
export function otsuThreshold(values: ArrayLike<number>): number {
  const v = Float64Array.from(values).sort();
  const n = v.length;
  if (n < 2) return n === 1 ? v[0]! : 0;
  const total = v.reduce((a, b) => a + b, 0);
  let below = 0;
  let best = -1;
  let cut = (v[0]! + v[n - 1]!) / 2;
  for (let i = 0; i < n - 1; i++) {
    below += v[i]!;
    if (v[i] === v[i + 1]) continue;
    const w0 = (i + 1) / n;
    const m0 = below / (i + 1);
    const m1 = (total - below) / (n - i - 1);
    const between = w0 * (1 - w0) * (m0 - m1) ** 2;
    if (between > best) [best, cut] = [between, (v[i]! + v[i + 1]!) / 2];
  }
  return cut;
}

/**
 * Orients first-component projections (in place) so that the positive side is the smaller one, and returns
 * the foreground mask `p > threshold` with the threshold used.
 */
export function foregroundFromFirstComponent(p: Float64Array, threshold: number | 'auto' = 0): { mask: Uint8Array; threshold: number } {
  let pos = 0;
  let neg = 0;
  for (const v of p) {
    if (v > 0) pos++;
    else if (v < 0) neg++;
  }
  if (pos > neg) for (let i = 0; i < p.length; i++) p[i] = -p[i]!;
  const t = threshold === 'auto' ? otsuThreshold(p) : threshold;
  return { mask: Uint8Array.from(p, (v) => (v > t ? 1 : 0)), threshold: t };
}

export interface PcaImageOptions {
  model: Dinov2;
  /** Shorter side of the model input (dense transform, default 518). */
  dense?: number;
  threshold?: number | 'auto';
  upsample?: 'nearest' | 'bilinear';
}

export interface PcaImageResult {
  /** The resized image and the PCA map side by side: (2·width) × height. */
  png: Uint8Array;
  width: number;
  height: number;
  grid: [number, number];
  /** Per patch, row-major: 1 = foreground. */
  foregroundMask: Uint8Array;
  /** Per patch: the oriented first-component projection over all patches. */
  firstComponent: Float64Array;
  threshold: number;
  /** Per patch × 3: the foreground PCA in [0, 1] (0 for background). */
  components: Float32Array;
}

/** Nearest or bilinear (half-pixel centres, clamped) upsampling of an h×w×3 map to H×W×3 bytes. */
function upsample(map: Float32Array, h: number, w: number, H: number, W: number, mode: 'nearest' | 'bilinear'): Uint8Array {
  const out = new Uint8Array(H * W * 3);
  const at = (y: number, x: number, c: number): number => map[(y * w + x) * 3 + c]!;
  for (let Y = 0; Y < H; Y++) {
    for (let X = 0; X < W; X++) {
      for (let c = 0; c < 3; c++) {
        let v: number;
        if (mode === 'nearest') {
          v = at(Math.min(h - 1, Math.floor((Y * h) / H)), Math.min(w - 1, Math.floor((X * w) / W)), c);
        } else {
          const sy = Math.min(Math.max(((Y + 0.5) * h) / H - 0.5, 0), h - 1);
          const sx = Math.min(Math.max(((X + 0.5) * w) / W - 0.5, 0), w - 1);
          const y0 = Math.floor(sy);
          const x0 = Math.floor(sx);
          const y1 = Math.min(y0 + 1, h - 1);
          const x1 = Math.min(x0 + 1, w - 1);
          const fy = sy - y0;
          const fx = sx - x0;
          v = (at(y0, x0, c) * (1 - fx) + at(y0, x1, c) * fx) * (1 - fy) + (at(y1, x0, c) * (1 - fx) + at(y1, x1, c) * fx) * fy;
        }
        out[(Y * W + X) * 3 + c] = Math.round(v * 255);
      }
    }
  }
  return out;
}

/** The foreground PCA as colours: 3 components min-max scaled over the foreground, background 0. */
function foregroundColours(tokens: Float32Array, D: number, mask: Uint8Array): Float32Array {
  const N = mask.length;
  const colours = new Float32Array(N * 3);
  const fg = Array.from({ length: N }, (_, i) => i).filter((i) => mask[i]);
  if (fg.length < 2) return colours;
  const { projections, components } = pca(tokens, D, 3, fg);
  const k = components.values.length;
  for (let j = 0; j < k; j++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < fg.length; i++) {
      lo = Math.min(lo, projections[i * k + j]!);
      hi = Math.max(hi, projections[i * k + j]!);
    }
    fg.forEach((patch, i) => {
      colours[patch * 3 + j] = hi > lo ? (projections[i * k + j]! - lo) / (hi - lo) : 0;
    });
  }
  return colours;
}

export async function pcaImage(image: ImageInput, opts: PcaImageOptions): Promise<PcaImageResult> {
  const { model } = opts;
  const rgb: RgbImage = typeof image === 'string' || image instanceof Uint8Array ? await decodeImage(image) : image;
  const size = denseSize(rgb.width, rgb.height, { shorterSide: opts.dense ?? 518, patchSize: model.patchSize });
  const resized = resize(rgb, size.width, size.height, 'bicubic');
  const x = normalize(toTensor(resized));
  const out = await model.forwardFeatures(x.reshape([1, ...x.shape]));
  const [h, w] = out.grid;
  const D = model.embedDim;
  const tokens = out.patchTokens.data;
  const first = pca(tokens, D, 1);
  const firstComponent = first.projections;
  const { mask, threshold } = foregroundFromFirstComponent(firstComponent, opts.threshold ?? 0);
  const components = foregroundColours(tokens, D, mask);
  const map = upsample(components, h, w, size.height, size.width, opts.upsample ?? 'nearest');
  const W = size.width;
  const side = new Uint8Array(size.height * 2 * W * 3);
  for (let y = 0; y < size.height; y++) {
    side.set(resized.data.subarray(y * W * 3, (y + 1) * W * 3), y * 2 * W * 3);
    side.set(map.subarray(y * W * 3, (y + 1) * W * 3), (y * 2 + 1) * W * 3);
  }
  // A caption on the PCA half: what the colours are, and how the foreground was chosen.
  const ls = labelScale(W, size.height);
  const fg = mask.reduce((a, b) => a + b, 0);
  const caption = [`PCA OF ${h}X${w} PATCH FEATURES`, `RGB = PC 1-3 OF THE FOREGROUND`, `FOREGROUND: PC1 > ${threshold.toPrecision(3)} (${fg}/${h * w})`];
  const lineH = (GLYPH_HEIGHT + 3) * ls;
  const sideImage = { width: 2 * W, height: size.height, data: side };
  if (caption.every((c) => textWidth(c, ls) + 4 * ls <= W) && caption.length * lineH + 4 * ls <= size.height) {
    caption.forEach((c, i) => drawTextInPlace(sideImage, c, W + 3 * ls, size.height - (caption.length - i) * lineH - ls, { scale: ls, background: [0, 0, 0] }));
  }
  const png = await sharp(side, { raw: { width: 2 * W, height: size.height, channels: 3 } }).png().toBuffer();
  return {
    png: new Uint8Array(png.buffer, png.byteOffset, png.byteLength),
    width: W,
    height: size.height,
    grid: [h, w],
    foregroundMask: mask,
    firstComponent,
    threshold,
    components,
  };
}
