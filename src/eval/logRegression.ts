/**
 * L2-regularised multinomial logistic regression, the protocol of `dinov2/eval/log_regression.py`
 * (reference §3.4):
 *
 * - features: the final-norm CLS token (`model(x)`), not L2-normalised, in float64;
 * - for each C in 10^linspace(−6, 5, 45): fit by L-BFGS (max 1000 iterations, tolerance 1e-12), score top-1
 *   on a random 10% of the training set held out from the fit; the best C (first maximum) is refit on the
 *   whole training set and evaluated on the validation set.
 *
 * Objective (scikit-learn's convention for C, which cuML follows): C · Σᵢ CE(W xᵢ + b, yᵢ) + ½‖W‖², the
 * intercept unpenalised. It is minimised in the equivalent form mean CE + ‖W‖² / (2·C·n), whose scale does
 * not depend on n. The 10% split uses this project's seeded generator, not torch's `randperm`, so the split
 * (and the chosen C in close cases) differs from an official run.
 *
 * Limits: everything runs on the host in float64. One objective evaluation costs about 4·n·F·C flops and the
 * full grid may take up to 45 × 1000 of them (warm starts along the grid cut that a lot in practice), so
 * this is for moderate sets — a few thousand images of a few hundred dimensions and tens of classes run in
 * seconds to minutes; ImageNet-scale features belong on the GPU (cuML), not here. Memory: n·F·8 bytes.
 */
import { Rng } from '../core/rng.js';
import { argmaxRows, topkAccuracy, type TopkAccuracy } from './metrics.js';

/** The official grid: 10^linspace(−6, 5, 45). */
export const C_GRID: readonly number[] = Array.from({ length: 45 }, (_, i) => 10 ** (-6 + (11 * i) / 44));

export interface LogRegModel {
  C: number;
  numClasses: number;
  dim: number;
  /** [numClasses, dim]. */
  weight: Float64Array;
  bias: Float64Array;
  iterations: number;
  /** Final objective (mean form) and gradient max-norm. */
  loss: number;
  gradNorm: number;
}

export interface FitOptions {
  maxIter?: number;
  tol?: number;
  /** L-BFGS memory (default 10). */
  history?: number;
  /** Start from these parameters (a warm start along the C grid). */
  init?: { weight: Float64Array; bias: Float64Array };
}

/** Mean cross-entropy + ‖W‖² / (2Cn) and its gradient, at θ = [W (C×F) | b (C)]. */
function objective(theta: Float64Array, x: Float64Array, y: Int32Array, F: number, K: number, C: number, grad: Float64Array): number {
  const n = y.length;
  const W = theta.subarray(0, K * F);
  const b = theta.subarray(K * F);
  grad.fill(0);
  const gW = grad.subarray(0, K * F);
  const gb = grad.subarray(K * F);
  const z = new Float64Array(K);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const xi = x.subarray(i * F, (i + 1) * F);
    let max = -Infinity;
    for (let k = 0; k < K; k++) {
      let s = b[k]!;
      const wk = k * F;
      for (let f = 0; f < F; f++) s += W[wk + f]! * xi[f]!;
      z[k] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(z[k]! - max);
    const lse = max + Math.log(sum);
    loss += lse - z[y[i]!]!;
    for (let k = 0; k < K; k++) {
      const d = (Math.exp(z[k]! - lse) - (k === y[i] ? 1 : 0)) / n;
      if (d === 0) continue;
      gb[k]! += d;
      const wk = k * F;
      for (let f = 0; f < F; f++) gW[wk + f]! += d * xi[f]!;
    }
  }
  const lambda = 1 / (C * n);
  let reg = 0;
  for (let j = 0; j < K * F; j++) {
    reg += W[j]! * W[j]!;
    gW[j]! += lambda * W[j]!;
  }
  return loss / n + 0.5 * lambda * reg;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Fits one C by L-BFGS with a backtracking (Armijo) line search. */
export function fitLogReg(x: Float64Array, y: Int32Array, F: number, K: number, C: number, opts: FitOptions = {}): LogRegModel {
  const maxIter = opts.maxIter ?? 1000;
  const tol = opts.tol ?? 1e-12;
  const m = opts.history ?? 10;
  const P = K * F + K;
  const theta = new Float64Array(P);
  if (opts.init) {
    theta.set(opts.init.weight);
    theta.set(opts.init.bias, K * F);
  }
  let g = new Float64Array(P);
  let f = objective(theta, x, y, F, K, C, g);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const d = new Float64Array(P);
  const trial = new Float64Array(P);
  let gTrial = new Float64Array(P);
  let it = 0;
  for (; it < maxIter && maxAbs(g) > tol; it++) {
    // Two-loop recursion: d = −H·g.
    d.set(g);
    const alpha = new Array<number>(S.length);
    for (let j = S.length - 1; j >= 0; j--) {
      alpha[j] = rho[j]! * dot(S[j]!, d);
      for (let i = 0; i < P; i++) d[i]! -= alpha[j]! * Y[j]![i]!;
    }
    const gamma = S.length ? dot(S[S.length - 1]!, Y[Y.length - 1]!) / dot(Y[Y.length - 1]!, Y[Y.length - 1]!) : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    for (let i = 0; i < P; i++) d[i]! *= gamma;
    for (let j = 0; j < S.length; j++) {
      const beta = rho[j]! * dot(Y[j]!, d);
      for (let i = 0; i < P; i++) d[i]! += S[j]![i]! * (alpha[j]! - beta);
    }
    for (let i = 0; i < P; i++) d[i] = -d[i]!;
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      S.length = Y.length = rho.length = 0;
      for (let i = 0; i < P; i++) d[i] = -g[i]!;
      slope = dot(g, d);
    }
    let step = 1;
    let fTrial = NaN;
    let accepted = false;
    for (let ls = 0; ls < 50; ls++) {
      for (let i = 0; i < P; i++) trial[i] = theta[i]! + step * d[i]!;
      fTrial = objective(trial, x, y, F, K, C, gTrial);
      if (fTrial <= f + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) break; // no decrease representable in float64: converged as far as it goes
    const s = new Float64Array(P);
    const yv = new Float64Array(P);
    for (let i = 0; i < P; i++) {
      s[i] = trial[i]! - theta[i]!;
      yv[i] = gTrial[i]! - g[i]!;
    }
    const sy = dot(s, yv);
    if (sy > 1e-12 * dot(yv, yv)) {
      S.push(s);
      Y.push(yv);
      rho.push(1 / sy);
      if (S.length > m) {
        S.shift();
        Y.shift();
        rho.shift();
      }
    }
    theta.set(trial);
    [g, gTrial] = [gTrial, g];
    const fPrev = f;
    f = fTrial;
    if (Math.abs(fPrev - f) <= 1e-16 * Math.max(Math.abs(f), 1)) {
      it++;
      break;
    }
  }
  return { C, numClasses: K, dim: F, weight: theta.slice(0, K * F), bias: theta.slice(K * F), iterations: it, loss: f, gradNorm: maxAbs(g) };
}

/** Class scores (logits) [n, K] of a fitted model. */
export function logRegScores(model: LogRegModel, x: ArrayLike<number>): Float64Array {
  const { dim: F, numClasses: K } = model;
  const n = x.length / F;
  const out = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < K; k++) {
      let s = model.bias[k]!;
      for (let f = 0; f < F; f++) s += model.weight[k * F + f]! * x[i * F + f]!;
      out[i * K + k] = s;
    }
  }
  return out;
}

export interface LogRegOptions extends Omit<FitOptions, 'init'> {
  cGrid?: readonly number[];
  seed?: number;
  onC?: (C: number, heldOutTop1: number) => void;
}

export interface LogRegEvaluation {
  bestC: number;
  /** Top-1 on the held-out 10% for each C of the grid. */
  sweep: { C: number; top1: number }[];
  model: LogRegModel;
  accuracy: TopkAccuracy;
  predictions: Int32Array;
}

function rowsOf(x: ArrayLike<number>, F: number, rows: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rows.length * F);
  for (let i = 0; i < rows.length; i++) for (let f = 0; f < F; f++) out[i * F + f] = x[rows[i]! * F + f]!;
  return out;
}

/** The official sweep: choose C on a 10% split of train, refit on all of train, evaluate on val. */
export function evalLogRegression(
  train: ArrayLike<number>,
  trainLabels: Int32Array,
  val: ArrayLike<number>,
  valLabels: Int32Array,
  F: number,
  numClasses: number,
  opts: LogRegOptions = {},
): LogRegEvaluation {
  const n = trainLabels.length;
  const grid = opts.cGrid ?? C_GRID;
  if (grid.length === 0) throw new Error('logistic regression: empty C grid');
  const perm = new Rng(opts.seed ?? 0).shuffle(Array.from({ length: n }, (_, i) => i));
  const heldN = Math.floor(n / 10);
  const fit = { ...(opts.maxIter !== undefined ? { maxIter: opts.maxIter } : {}), ...(opts.tol !== undefined ? { tol: opts.tol } : {}), ...(opts.history !== undefined ? { history: opts.history } : {}) };
  let bestC = grid[0]!;
  const sweep: { C: number; top1: number }[] = [];
  if (heldN > 0 && grid.length > 1) {
    const held = perm.slice(0, heldN);
    const rest = perm.slice(heldN);
    const xFit = rowsOf(train, F, rest);
    const yFit = Int32Array.from(rest, (i) => trainLabels[i]!);
    const xHeld = rowsOf(train, F, held);
    const yHeld = Int32Array.from(held, (i) => trainLabels[i]!);
    let best = -1;
    let warm: LogRegModel | undefined;
    for (const C of grid) {
      warm = fitLogReg(xFit, yFit, F, numClasses, C, { ...fit, ...(warm ? { init: warm } : {}) });
      const top1 = topkAccuracy(logRegScores(warm, xHeld), yHeld, numClasses).top1;
      sweep.push({ C, top1 });
      opts.onC?.(C, top1);
      if (top1 > best) [best, bestC] = [top1, C];
    }
  }
  const model = fitLogReg(rowsOf(train, F, Array.from({ length: n }, (_, i) => i)), trainLabels, F, numClasses, bestC, fit);
  const scores = logRegScores(model, val);
  return { bestC, sweep, model, accuracy: topkAccuracy(scores, valLabels, numClasses), predictions: argmaxRows(scores, valLabels.length, numClasses) };
}
