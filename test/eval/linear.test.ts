/** The linear probe and logistic regression against reference computations written here, on Gaussian clusters. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FeatureSet } from '../../src/eval/features.js';
import { trainLinearProbe } from '../../src/eval/linear.js';
import { C_GRID, evalLogRegression, fitLogReg } from '../../src/eval/logRegression.js';
import { clusters, gaussian } from './synthetic.js';

/** A FeatureSet with one CLS row + one "mean" row per image: [cls | mean] = the two halves of x. */
function featureSet(x: Float32Array, D2: number): FeatureSet {
  const n = x.length / D2;
  return { paths: Array.from({ length: n }, (_, i) => `img${i}`), kept: Int32Array.from({ length: n }, (_, i) => i), blocks: 1, dim: D2 / 2, data: x };
}

/** Official recipe by hand, float64: full-batch SGD (momentum 0.9), lr·b/256, cosine annealing, mean CE. */
function referenceSgd(x: number[][], y: Int32Array, C: number, W0: number[][], b0: number[], lr0: number, iters: number) {
  const n = x.length;
  const F = x[0]!.length;
  const W = W0.map((r) => [...r]);
  const b = [...b0];
  const mW = W.map((r) => r.map(() => 0));
  const mb = b.map(() => 0);
  const lr = (lr0 * n) / 256;
  for (let t = 0; t < iters; t++) {
    const gW = W.map((r) => r.map(() => 0));
    const gb = b.map(() => 0);
    for (let i = 0; i < n; i++) {
      const z = W.map((row, c) => row.reduce((a, w, f) => a + w * x[i]![f]!, b[c]!));
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const s = e.reduce((a, v) => a + v, 0);
      for (let c = 0; c < C; c++) {
        const d = (e[c]! / s - (c === y[i] ? 1 : 0)) / n;
        gb[c]! += d;
        for (let f = 0; f < F; f++) gW[c]![f]! += d * x[i]![f]!;
      }
    }
    const lrt = (lr * (1 + Math.cos((Math.PI * t) / iters))) / 2;
    for (let c = 0; c < C; c++) {
      mb[c] = 0.9 * mb[c]! + gb[c]!;
      b[c]! -= lrt * mb[c]!;
      for (let f = 0; f < F; f++) {
        mW[c]![f] = 0.9 * mW[c]![f]! + gW[c]![f]!;
        W[c]![f]! -= lrt * mW[c]![f]!;
      }
    }
  }
  return { W, b };
}

const predict = (W: number[][], b: number[], x: number[][]) =>
  x.map((xi) => {
    const z = W.map((row, c) => row.reduce((a, w, f) => a + w * xi[f]!, b[c]!));
    return z.indexOf(Math.max(...z));
  });

test('linear probe: every classifier of the grid matches full-batch SGD computed by hand, and the best val top-1 is chosen', async () => {
  const C = 3;
  const D2 = 8; // cls (4) + mean (4)
  const train = clusters(C, 8, D2, 2.0, 11);
  const val = clusters(C, 6, D2, 2.0, 12);
  const g = gaussian(99);
  const inits = new Map<string, { weight: Float32Array; bias: Float32Array }>();
  const lrs = [0.5, 5, 50];
  const iters = 15;
  const result = await trainLinearProbe(featureSet(train.x, D2), train.labels, featureSet(val.x, D2), val.labels, C, {
    learningRates: lrs,
    epochs: iters,
    epochLength: 1,
    batchSize: 24, // = n: every batch is the whole set, so the reference needs no sampler
    nLastBlocksList: [1],
    init: (spec, F, K) => {
      const init = { weight: Float32Array.from({ length: K * F }, () => 0.01 * g()), bias: Float32Array.from({ length: K }, () => 0.1 * g()) };
      inits.set(spec.name, init);
      return init;
    },
  });
  assert.equal(result.classifiers.length, 2 * lrs.length);
  assert.equal(result.iterations, iters);
  const rows = (x: Float32Array, n: number, avgpool: boolean) =>
    Array.from({ length: n }, (_, i) => Array.from(x.subarray(i * D2, i * D2 + (avgpool ? D2 : D2 / 2))));
  let bestTop1 = -1;
  let bestName = '';
  for (const c of result.classifiers) {
    const F = c.inFeatures;
    assert.equal(F, c.avgpool ? 8 : 4);
    const init = inits.get(c.name)!;
    const W0 = Array.from({ length: C }, (_, k) => Array.from(init.weight.subarray(k * F, (k + 1) * F)));
    const ref = referenceSgd(rows(train.x, 24, c.avgpool), train.labels, C, W0, [...init.bias], c.baseLr, iters);
    for (let k = 0; k < C; k++) {
      assert.ok(Math.abs(c.bias[k]! - ref.b[k]!) < 1e-3 * Math.max(1, Math.abs(ref.b[k]!)), `${c.name} bias[${k}] ${c.bias[k]} vs ${ref.b[k]}`);
      for (let f = 0; f < F; f++) {
        assert.ok(Math.abs(c.weight[k * F + f]! - ref.W[k]![f]!) < 1e-3 * Math.max(1, Math.abs(ref.W[k]![f]!)), `${c.name} weight[${k},${f}] ${c.weight[k * F + f]} vs ${ref.W[k]![f]}`);
      }
    }
    const refPred = predict(ref.W, ref.b, rows(val.x, 18, c.avgpool));
    const top1 = refPred.filter((p, i) => p === val.labels[i]).length / 18;
    assert.equal(c.valTop1, top1, `${c.name} val top-1`);
    if (top1 > bestTop1) [bestTop1, bestName] = [top1, c.name];
  }
  assert.equal(result.best.name, bestName);
  assert.ok(result.best.valTop1 >= 0.9, `separable clusters, best val top-1 ${result.best.valTop1}`);
});

test('linear probe with the official init and shuffled mini-batches separates the clusters', async () => {
  const C = 4;
  const train = clusters(C, 20, 8, 1.5, 21);
  const val = clusters(C, 10, 8, 1.5, 22);
  const r = await trainLinearProbe(featureSet(train.x, 8), train.labels, featureSet(val.x, 8), val.labels, C, { batchSize: 16, epochs: 10, learningRates: [1e-3, 0.1, 1] });
  assert.equal(r.iterations, 10 * 5);
  assert.equal(r.classifiers.length, 6);
  assert.ok(r.best.valTop1 > 0.9, `best val top-1 ${r.best.valTop1}`);
  assert.match(r.best.name, /^classifier_1_blocks_avgpool_(True|False)_lr_\d+_\d{5}$/);
});

test('logistic regression reaches the optimum of C·ΣCE + ½‖W‖² (gradient and probabilities checked by hand)', () => {
  const K = 3;
  const F = 4;
  const { x, labels } = clusters(K, 10, F, 2.5, 31);
  const n = labels.length;
  const x64 = Float64Array.from(x);
  for (const Creg of [0.01, 1, 100]) {
    const m = fitLogReg(x64, labels, F, K, Creg);
    // sklearn-form gradient at the solution: C·Σ(p − y)xᵀ + W, and C·Σ(p − y) for the bias.
    const gW = new Float64Array(K * F);
    const gb = new Float64Array(K);
    for (let i = 0; i < n; i++) {
      const z = [...Array(K).keys()].map((k) => m.bias[k]! + [...Array(F).keys()].reduce((a, f) => a + m.weight[k * F + f]! * x64[i * F + f]!, 0));
      const mx = Math.max(...z);
      const s = z.reduce((a, v) => a + Math.exp(v - mx), 0);
      for (let k = 0; k < K; k++) {
        const d = Math.exp(z[k]! - mx) / s - (k === labels[i] ? 1 : 0);
        gb[k]! += Creg * d;
        for (let f = 0; f < F; f++) gW[k * F + f]! += Creg * d * x64[i * F + f]!;
      }
    }
    for (let j = 0; j < K * F; j++) gW[j]! += m.weight[j]!;
    const scale = Math.max(1, Creg * n);
    const worst = Math.max(...gW.map(Math.abs), ...gb.map(Math.abs)) / scale;
    assert.ok(worst < 1e-6, `C=${Creg}: gradient ${worst} after ${m.iterations} iterations`);
  }
  // Reference optimiser: Newton's method with the exact Hessian on the mean form at C = 1 (θ = [w_k, b_k] per
  // class over x̃ = [x, 1]; a 1e-10 ridge removes the softmax's shift invariance in the biases).
  const lambda = 1 / (1 * n);
  const P = K * (F + 1);
  const theta = new Float64Array(P);
  const at = (k: number, a: number) => k * (F + 1) + a;
  const xt = (i: number, a: number) => (a < F ? x64[i * F + a]! : 1);
  for (let iter = 0; iter < 50; iter++) {
    const grad = new Float64Array(P);
    const H = Array.from({ length: P }, () => new Float64Array(P));
    for (let i = 0; i < n; i++) {
      const z = [...Array(K).keys()].map((k) => [...Array(F + 1).keys()].reduce((acc, a) => acc + theta[at(k, a)]! * xt(i, a), 0));
      const mx = Math.max(...z);
      const e = z.map((v) => Math.exp(v - mx));
      const s = e.reduce((acc, v) => acc + v, 0);
      const p = e.map((v) => v / s);
      for (let k = 0; k < K; k++) {
        for (let a = 0; a <= F; a++) {
          grad[at(k, a)]! += ((p[k]! - (k === labels[i] ? 1 : 0)) * xt(i, a)) / n;
          for (let l = 0; l < K; l++) {
            for (let c = 0; c <= F; c++) H[at(k, a)]![at(l, c)]! += (p[k]! * ((k === l ? 1 : 0) - p[l]!) * xt(i, a) * xt(i, c)) / n;
          }
        }
      }
    }
    for (let k = 0; k < K; k++) {
      for (let a = 0; a <= F; a++) {
        H[at(k, a)]![at(k, a)]! += (a < F ? lambda : 0) + 1e-10;
        if (a < F) grad[at(k, a)]! += lambda * theta[at(k, a)]!;
      }
    }
    // Solve H·step = grad by Gaussian elimination with partial pivoting.
    const A = H.map((row, r) => [...row, grad[r]!]);
    for (let col = 0; col < P; col++) {
      let piv = col;
      for (let r = col + 1; r < P; r++) if (Math.abs(A[r]![col]!) > Math.abs(A[piv]![col]!)) piv = r;
      [A[col], A[piv]] = [A[piv]!, A[col]!];
      for (let r = col + 1; r < P; r++) {
        const f = A[r]![col]! / A[col]![col]!;
        for (let c = col; c <= P; c++) A[r]![c]! -= f * A[col]![c]!;
      }
    }
    const step = new Float64Array(P);
    for (let r = P - 1; r >= 0; r--) {
      let v = A[r]![P]!;
      for (let c = r + 1; c < P; c++) v -= A[r]![c]! * step[c]!;
      step[r] = v / A[r]![r]!;
    }
    for (let j = 0; j < P; j++) theta[j]! -= step[j]!;
  }
  const W = new Float64Array(K * F);
  const b = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    for (let f = 0; f < F; f++) W[k * F + f] = theta[at(k, f)]!;
    b[k] = theta[at(k, F)]!;
  }
  const m = fitLogReg(x64, labels, F, K, 1);
  const probs = (w: Float64Array, bb: Float64Array, i: number) => {
    const z = [...Array(K).keys()].map((k) => bb[k]! + [...Array(F).keys()].reduce((a, f) => a + w[k * F + f]! * x64[i * F + f]!, 0));
    const mx = Math.max(...z);
    const e = z.map((v) => Math.exp(v - mx));
    const s = e.reduce((a, v) => a + v, 0);
    return e.map((v) => v / s);
  };
  for (let i = 0; i < n; i++) {
    const p = probs(m.weight, m.bias, i);
    const q = probs(W, b, i);
    for (let k = 0; k < K; k++) assert.ok(Math.abs(p[k]! - q[k]!) < 1e-6, `image ${i} class ${k}: ${p[k]} vs ${q[k]}`);
  }
});

test('logistic regression sweep: 45 values of C from 1e-6 to 1e5, chosen on 10% of train, good on val', () => {
  assert.equal(C_GRID.length, 45);
  assert.ok(Math.abs(C_GRID[0]! - 1e-6) < 1e-18 && Math.abs(C_GRID[44]! / 1e5 - 1) < 1e-12);
  const K = 3;
  const train = clusters(K, 20, 6, 1.5, 41);
  const val = clusters(K, 10, 6, 1.5, 42);
  const r = evalLogRegression(train.x, train.labels, val.x, val.labels, 6, K, { cGrid: [1e-6, 1e-2, 1, 100] });
  assert.equal(r.sweep.length, 4);
  assert.ok(r.sweep[0]!.top1 <= r.sweep.find((s) => s.C === r.bestC)!.top1);
  assert.ok(r.accuracy.top1 > 0.9, `val top-1 ${r.accuracy.top1}`);
});
