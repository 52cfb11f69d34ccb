/**
 * Float64 host references, written from the official PyTorch code line by line (plain loops over
 * row-major arrays), to check the graphs' forward values independently of the graph code.
 */

export type Mat = number[][];

export function toMat(data: ArrayLike<number>, rows: number, cols: number): Mat {
  return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => data[r * cols + c]!));
}

export const flat = (m: Mat): number[] => m.flat();

export function softmaxRow(v: readonly number[]): number[] {
  const max = Math.max(...v);
  const e = v.map((x) => Math.exp(x - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

export function logSoftmaxRow(v: readonly number[]): number[] {
  const max = Math.max(...v);
  const lse = max + Math.log(v.reduce((a, x) => a + Math.exp(x - max), 0));
  return v.map((x) => x - lse);
}

/** DINOLoss/iBOTPatchLoss.sinkhorn_knopp_teacher with Q laid out [K][B] as in the official code. */
export function sinkhorn(teacher: Mat, temp: number, iterations: number, nSamples = teacher.length): Mat {
  const B = nSamples;
  const K = teacher[0]!.length;
  const cols = teacher.length;
  let Q: Mat = Array.from({ length: K }, (_, k) => Array.from({ length: cols }, (_, b) => Math.exp(teacher[b]![k]! / temp)));
  const total = Q.flat().reduce((a, b) => a + b, 0);
  Q = Q.map((row) => row.map((v) => v / total));
  for (let it = 0; it < iterations; it++) {
    Q = Q.map((row) => {
      const s = row.reduce((a, b) => a + b, 0);
      return row.map((v) => v / s / K);
    });
    const colSums = Array.from({ length: cols }, (_, b) => Q.reduce((a, row) => a + row[b]!, 0));
    Q = Q.map((row) => row.map((v, b) => v / colSums[b]! / B));
  }
  return Array.from({ length: cols }, (_, b) => Array.from({ length: K }, (_, k) => Q[k]![b]! * B));
}

/** torch.chunk along rows. */
export function chunkRows(m: Mat, chunks: number): Mat[] {
  const size = Math.ceil(m.length / chunks);
  const out: Mat[] = [];
  for (let s = 0; s < m.length; s += size) out.push(m.slice(s, s + size));
  return out;
}

export function dinoLoss(students: Mat[], teachers: Mat[], studentTemp: number): number {
  let total = 0;
  for (const s of students) {
    const lsm = s.map((row) => logSoftmaxRow(row.map((v) => v / studentTemp)));
    for (const t of teachers) {
      const per = t.map((row, i) => row.reduce((a, v, k) => a + v * lsm[i]![k]!, 0));
      total -= per.reduce((a, b) => a + b, 0) / per.length;
    }
  }
  return total;
}

export function softmaxCenter(teacher: Mat, center: readonly number[], temp: number): Mat {
  return teacher.map((row) => softmaxRow(row.map((v, k) => (v - center[k]!) / temp)));
}

export function updateCenter(center: readonly number[], teacher: Mat, m: number): number[] {
  return center.map((c, k) => c * m + (teacher.reduce((a, row) => a + row[k]!, 0) / teacher.length) * (1 - m));
}

/** iBOTPatchLoss.forward_masked (without xformers: the lossfunc fallback). */
export function ibotMasked(student: Mat, teacher: Mat, weights: readonly number[], images: number, studentTemp: number, nMasked = student.length): number {
  let sum = 0;
  for (let i = 0; i < nMasked; i++) {
    const lsm = logSoftmaxRow(student[i]!.map((v) => v / studentTemp));
    sum += teacher[i]!.reduce((a, t, k) => a + t * lsm[k]!, 0) * weights[i]!;
  }
  return -sum / images;
}

/** iBOTPatchLoss.forward on [B][N][K] tokens and [B][N] masks. */
export function ibotFull(student: Mat[], teacher: Mat[], masks: number[][], studentTemp: number): number {
  const perImage = student.map((img, b) => {
    let s = 0;
    img.forEach((row, n) => {
      const lsm = logSoftmaxRow(row.map((v) => v / studentTemp));
      s += teacher[b]![n]!.reduce((a, t, k) => a + t * lsm[k]!, 0) * masks[b]![n]!;
    });
    return s / Math.max(masks[b]!.reduce((a, v) => a + v, 0), 1);
  });
  return -perImage.reduce((a, b) => a + b, 0) / perImage.length;
}

function normalizeRow(v: readonly number[], eps: number): number[] {
  const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  return v.map((x) => x / Math.max(n, eps));
}

export function koleo(x: Mat, eps = 1e-8): number {
  const xn = x.map((r) => normalizeRow(r, eps));
  let total = 0;
  xn.forEach((row, i) => {
    let best = -1;
    let bestDot = -Infinity;
    xn.forEach((other, j) => {
      const d = i === j ? -1 : row.reduce((a, v, k) => a + v * other[k]!, 0);
      if (d > bestDot) [best, bestDot] = [j, d];
    });
    const dist = Math.sqrt(row.reduce((a, v, k) => a + (v - xn[best]![k]! + 1e-8) ** 2, 0));
    total += Math.log(dist + eps);
  });
  return -total / xn.length;
}

/** erf to ~1e-14: Taylor series near 0, continued fraction for erfc in the tails. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))), evaluated bottom-up.
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));

/** y = x·Wᵀ + b for W [out][in]. */
export function linear(x: Mat, w: Mat, b: readonly number[] | null): Mat {
  return x.map((row) => w.map((wr, o) => wr.reduce((a, v, i) => a + v * row[i]!, b ? b[o]! : 0)));
}

export interface HeadWeights {
  mlp: { w: Mat; b: number[] | null }[];
  g: number[];
  v: Mat;
}

/** DINOHead.forward: MLP with GELU between, F.normalize (eps 1e-12), weight-normed last layer. */
export function dinoHead(x: Mat, p: HeadWeights): Mat {
  let h = x;
  p.mlp.forEach((l, i) => {
    h = linear(h, l.w, l.b);
    if (i < p.mlp.length - 1) h = h.map((r) => r.map(gelu));
  });
  const z = h.map((r) => normalizeRow(r, 1e-12));
  const W = p.v.map((row, k) => {
    const n = Math.sqrt(row.reduce((a, v) => a + v * v, 0));
    return row.map((v) => v * (p.g[k]! / n));
  });
  return linear(z, W, null);
}
