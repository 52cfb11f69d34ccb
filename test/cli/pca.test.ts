import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli } from '../../src/cli/main.js';
import { rgbImage, type RgbImage } from '../../src/data/image.js';
import { denseTransform } from '../../src/data/transforms.js';
import { loadBackbone } from '../../src/models/load.js';
import { otsuThreshold, pcaImage, topEigenvectors } from '../../src/apps/pca.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';

const MODEL = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');

/** A bright disk on a striped, noisy background: an obvious object. */
function diskImage(width: number, height: number): RgbImage {
  const img = rgbImage(width, height);
  let s = 7;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const inside = (x - width * 0.55) ** 2 + (y - height * 0.45) ** 2 < (0.25 * Math.min(width, height)) ** 2;
      const v = inside ? [250, 240, 120] : [((x >> 2) & 1) * 90 + (s >>> 26), 60 + ((y >> 3) & 1) * 50, 90 + (s >>> 27)];
      img.data.set(v, (y * width + x) * 3);
    }
  }
  return img;
}

/**
 * First principal component scores, computed independently of src/pca.ts: power iteration on the Gram
 * matrix of the centred patches (N×N instead of the D×D covariance), whose top eigenvector is the
 * normalised score vector.
 */
function firstComponentScores(x: Float32Array, N: number, D: number): Float64Array {
  const c = new Float64Array(N * D);
  for (let d = 0; d < D; d++) {
    let m = 0;
    for (let n = 0; n < N; n++) m += x[n * D + d]!;
    m /= N;
    for (let n = 0; n < N; n++) c[n * D + d] = x[n * D + d]! - m;
  }
  const gram = new Float64Array(N * N);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += c[i * D + d]! * c[j * D + d]!;
      gram[i * N + j] = s;
    }
  }
  let u = Float64Array.from({ length: N }, (_, i) => 1 + Math.sin(i));
  let lambda = 0;
  for (let it = 0; it < 20000; it++) {
    const v = new Float64Array(N);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) v[i] += gram[i * N + j]! * u[j]!;
    const norm = Math.hypot(...v);
    const next = v.map((e) => e / norm);
    const change = Math.hypot(...next.map((e, i) => e - u[i]!));
    u = next;
    lambda = norm;
    if (change < 1e-13) break;
  }
  // Scores = u · σ with σ = √λ (the Gram matrix is not divided by N − 1 here; only signs and order matter).
  return u.map((e) => e * Math.sqrt(lambda));
}

test('pca: PNG is 2·W × H, and the foreground is the smaller side of the first component at the threshold', async () => {
  const model = await loadBackbone(MODEL);
  const img = diskImage(154, 112);
  const result = await pcaImage(img, { model, dense: 112 });
  const meta = await sharp(result.png).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 2 * result.width);
  assert.equal(meta.height, result.height);
  assert.deepEqual([result.height, result.width], [112, 154]);

  const x = denseTransform(img, { shorterSide: 112 });
  const f = await model.forwardFeatures(x.reshape([1, ...x.shape]));
  const [h, w] = f.grid;
  assert.deepEqual(result.grid, [h, w]);
  const N = h * w;
  const scores = firstComponentScores(f.patchTokens.data, N, 48);
  // The documented orientation: the positive side is the smaller one.
  const positive = scores.filter((s) => s > 0).length;
  const oriented = positive > N - positive ? scores.map((s) => -s) : scores;
  const scale = Math.max(...oriented.map(Math.abs));
  let compared = 0;
  for (let i = 0; i < N; i++) {
    if (Math.abs(oriented[i]!) < 1e-6 * scale) continue;
    assert.equal(result.foregroundMask[i], oriented[i]! > 0 ? 1 : 0, `patch ${i}`);
    compared++;
  }
  assert.ok(compared >= N - 1);
  const fg = result.foregroundMask.reduce((a, b) => a + b, 0);
  assert.ok(fg > 0 && fg <= N / 2);

  // Foreground colours are min-max scaled to [0, 1]; the background is black.
  for (let i = 0; i < N; i++) {
    const rgb = result.components.subarray(i * 3, i * 3 + 3);
    if (!result.foregroundMask[i]) assert.deepEqual([...rgb], [0, 0, 0]);
    else rgb.forEach((v) => assert.ok(v >= 0 && v <= 1));
  }
  if (fg >= 4) {
    for (let c = 0; c < 3; c++) {
      const vals = [...result.foregroundMask.keys()].filter((i) => result.foregroundMask[i]).map((i) => result.components[i * 3 + c]!);
      assert.ok(Math.abs(Math.min(...vals)) < 1e-6 && Math.abs(Math.max(...vals) - 1) < 1e-6);
    }
  }

  // 'auto' is Otsu's cut on the oriented projections.
  const auto = await pcaImage(img, { model, dense: 112, threshold: 'auto' });
  assert.ok(Math.abs(auto.threshold - otsuThreshold(auto.firstComponent)) < 1e-12);
  auto.firstComponent.forEach((p, i) => assert.equal(auto.foregroundMask[i], p > auto.threshold ? 1 : 0));
  await model.dispose();
});

test('pca: the eigen solver finds the leading eigenpairs of a known matrix', () => {
  // Q·diag(λ)·Qᵀ with a Householder Q: eigenvalues known exactly.
  const n = 30;
  const lambdas = Array.from({ length: n }, (_, i) => (i < 3 ? 10 - 3 * i : 1 / (i + 1)));
  const v = Array.from({ length: n }, (_, i) => Math.cos(i * 1.3) + 0.1);
  const vv = v.reduce((a, b) => a + b * b, 0);
  const q = (i: number, j: number): number => (i === j ? 1 : 0) - (2 * v[i]! * v[j]!) / vv;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += q(i, k) * lambdas[k]! * q(j, k);
  const { values, vectors } = topEigenvectors(a, n, 3);
  [10, 7, 4].forEach((l, k) => {
    assert.ok(Math.abs(values[k]! - l) < 1e-9);
    let dot = 0;
    for (let i = 0; i < n; i++) dot += vectors[k * n + i]! * q(i, k);
    assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-9);
  });
});

test('pca CLI writes the PNG and reports the foreground', async () => {
  await withTempDir(async (dir) => {
    const png = join(dir, 'pca.png');
    const img = join(CONFORMANCE_DIR, 'images', 'chelsea.png');
    const chunks: string[] = [];
    const saved = process.stderr.write;
    process.stderr.write = ((c: string) => (chunks.push(String(c)), true)) as typeof process.stderr.write;
    let code: number;
    try {
      code = await runCli(['pca', img, '--model', MODEL, '--out', png, '--dense', '56', '--threshold', 'auto', '--upsample', 'bilinear']);
    } finally {
      process.stderr.write = saved;
    }
    assert.equal(code, 0, chunks.join(''));
    assert.match(chunks.join(''), /foreground: \d+ of \d+ patches/);
    const meta = await sharp(await readFile(png)).metadata();
    assert.equal(meta.height, 56);
    assert.equal(meta.width, 2 * 84);
    assert.equal(await runCli(['pca', img, '--model', MODEL, '--out', png, '--threshold', 'high']), 2);
  });
});
