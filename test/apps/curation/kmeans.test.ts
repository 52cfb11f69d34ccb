/** k-means: recovery of known blobs, the graph kernels against brute force, and the reference's edge rules. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { DistanceKernels } from '../../../src/apps/curation/distanceGraph.js';
import { kmeans, updateCentroids } from '../../../src/apps/curation/kmeans.js';
import { kmeansPlusPlus } from '../../../src/apps/curation/kmeansPlusPlus.js';
import { Rng } from '../../../src/core/rng.js';
import { blobs, sqDist, uniformRows } from './data.js';

const kernels8 = new DistanceKernels(8);
after(() => kernels8.dispose());

test('k-means recovers well-separated Gaussian blobs (purity 1, centroids near the true centres)', async () => {
  const B = 6;
  const data = blobs(Array(B).fill(80), 8, 10, 0.5, 3);
  const r = await kmeans(data.x, data.n, 8, B, { nIters: 20, seed: 1, kernels: kernels8 });
  // Purity 1 both ways: each cluster holds one blob and each blob lies in one cluster.
  const blobOf = new Map<number, number>();
  const clusterOf = new Map<number, number>();
  for (let i = 0; i < data.n; i++) {
    const c = r.assignment[i]!;
    const b = data.labels[i]!;
    assert.equal(blobOf.get(c) ?? b, b, `cluster ${c} mixes blobs`);
    assert.equal(clusterOf.get(b) ?? c, c, `blob ${b} is split`);
    blobOf.set(c, b);
    clusterOf.set(b, c);
  }
  assert.equal(blobOf.size, B);
  // The mean of 80 points with σ = 0.5 in 8-D is ~0.16 from its centre; 0.5 leaves a wide margin.
  for (const [b, c] of clusterOf) {
    const dist = Math.sqrt(sqDist(r.centroids, c, data.centres, b, 8));
    assert.ok(dist < 0.5, `blob ${b}: centroid is ${dist.toFixed(3)} from the true centre`);
  }
});

test('graph assignment equals a brute-force float64 argmin (ties aside), also when chunked', async () => {
  const D = 16;
  const n = 500;
  const k = 37;
  const x = uniformRows(n, D, 11);
  const c = uniformRows(k, D, 12);
  const whole = new DistanceKernels(D);
  const chunked = new DistanceKernels(D, {}, 37 * 7); // 7 rows per run: many chunks and a ragged last one
  try {
    const a = await whole.nearest(x, n, c, k);
    const b = await chunked.nearest(x, n, c, k);
    assert.deepEqual(b, a);
    let compared = 0;
    for (let i = 0; i < n; i++) {
      const d = Array.from({ length: k }, (_, j) => sqDist(x, i, c, j, D));
      const sorted = [...d].sort((p, q) => p - q);
      if (sorted[1]! - sorted[0]! < 1e-4) continue; // a near tie: float32 rounding may pick either
      compared++;
      assert.equal(a[i], d.indexOf(sorted[0]!), `row ${i}`);
    }
    assert.ok(compared > 490, `only ${compared} rows without a near tie`);
  } finally {
    await Promise.all([whole.dispose(), chunked.dispose()]);
  }
});

test('candidate distance graph matches float64 squared distances, also when chunked', async () => {
  const D = 8;
  const n = 300;
  const x = uniformRows(n, D, 21);
  const y = uniformRows(3, D, 22);
  const xSq = Float32Array.from({ length: n }, (_, i) => sqDist(x, i, new Float32Array(D), 0, D));
  const chunked = new DistanceKernels(D, {}, 3 * 50);
  try {
    for (const kern of [kernels8, chunked]) {
      const d = await kern.distances(y, 3, x, n, xSq);
      assert.equal(d.length, 3 * n);
      for (let j = 0; j < 3; j++) for (let i = 0; i < n; i++) assert.ok(Math.abs(d[j * n + i]! - sqDist(y, j, x, i, D)) < 1e-5);
    }
  } finally {
    await chunked.dispose();
  }
});

test('k-means is deterministic for a seed and depends on it', async () => {
  const x = uniformRows(400, 8, 5);
  const a = await kmeans(x, 400, 8, 12, { nIters: 5, seed: 9, kernels: kernels8 });
  const b = await kmeans(x, 400, 8, 12, { nIters: 5, seed: 9, kernels: kernels8 });
  const c = await kmeans(x, 400, 8, 12, { nIters: 5, seed: 10, kernels: kernels8 });
  assert.deepEqual(b.centroids, a.centroids);
  assert.deepEqual(b.assignment, a.assignment);
  assert.notDeepEqual(c.centroids, a.centroids);
});

test('k = N gives one point per cluster with the point as its centroid; k = 1 gives the float64 mean', async () => {
  const n = 40;
  const x = uniformRows(n, 8, 6);
  const r = await kmeans(x, n, 8, n, { nIters: 3, seed: 2, kernels: kernels8 });
  assert.deepEqual([...r.assignment].sort((p, q) => p - q), Array.from({ length: n }, (_, i) => i));
  for (let i = 0; i < n; i++) assert.deepEqual(r.centroids.subarray(r.assignment[i]! * 8, r.assignment[i]! * 8 + 8), x.subarray(i * 8, i * 8 + 8));

  const one = await kmeans(x, n, 8, 1, { nIters: 2, seed: 2, kernels: kernels8 });
  assert.ok(one.assignment.every((a) => a === 0));
  for (let d = 0; d < 8; d++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i * 8 + d]!;
    assert.equal(one.centroids[d], Math.fround(s / n));
  }
});

test('centroids are float64 means: a float32 running sum would lose the small members', () => {
  // 2^24 + 1 + 1: in float32 each +1 rounds away (mean 5592405.33…); in float64 the sum is 2^24 + 2 and
  // the mean exactly 5592406.
  const x = Float32Array.from([16777216, 1, 1]);
  const c = updateCentroids(x, 1, new Int32Array(3), 1, new Float32Array(1));
  assert.equal(c[0], 5592406);
});

test('an empty cluster keeps its previous centroid (the reference does not re-seed it)', async () => {
  const data = blobs([30, 30], 8, 5, 0.3, 4);
  const far = Array.from({ length: 8 }, (_, d) => 1000 + d);
  const init = Float32Array.from([...data.centres.subarray(0, 8), ...far, ...data.centres.subarray(8, 16)]);
  const r = await kmeans(data.x, data.n, 8, 3, { init, nIters: 5, kernels: kernels8 });
  const sizes = [0, 1, 2].map((c) => r.assignment.filter((a) => a === c).length);
  assert.deepEqual(sizes, [30, 0, 30]);
  assert.deepEqual(r.centroids.subarray(8, 16), Float32Array.from(far));
  // The other two moved to their members' means.
  assert.notDeepEqual(r.centroids.subarray(0, 8), init.subarray(0, 8));
});

test('k-means++ seeds one point per blob and is seeded', async () => {
  const data = blobs(Array(5).fill(50), 8, 20, 0.3, 8);
  const seeds = await kmeansPlusPlus(data.x, data.n, 5, kernels8, new Rng(3));
  assert.deepEqual(new Set(Array.from(seeds, (s) => data.labels[s])).size, 5);
  assert.deepEqual(await kmeansPlusPlus(data.x, data.n, 5, kernels8, new Rng(3)), seeds);
});

test('k-means rejects bad arguments by name', async () => {
  const x = uniformRows(10, 8, 1);
  await assert.rejects(kmeans(x, 10, 8, 11), /k=11 exceeds the number of points n=10/);
  await assert.rejects(kmeans(x, 10, 8, 0), /k must be a positive integer/);
  await assert.rejects(kmeans(x, 10, 7, 2), /x has 80 values, expected n=10 × D=7/);
  await assert.rejects(kmeans(x, 10, 8, 2, { kernels: new DistanceKernels(4) }), /kernels were built for D=4/);
  await assert.rejects(kmeans(x, 10, 8, 2, { nIters: -1, kernels: kernels8 }), /nIters/);
  await assert.rejects(kmeans(x, 10, 8, 2, { init: new Float32Array(3), kernels: kernels8 }), /init has 3 values/);
});
