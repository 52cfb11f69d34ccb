/**
 * Resampling steps and the hierarchy: the paper's claim that resampling moves centroids from dense regions
 * towards a uniform coverage of the support, the subset rule of a step, and the level walk.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { sortClustersByDistance, clustersFromAssignment } from '../../../src/apps/curation/clusters.js';
import { DistanceKernels } from '../../../src/apps/curation/distanceGraph.js';
import { hierarchicalKmeans } from '../../../src/apps/curation/hierarchicalKmeans.js';
import { resampledKmeans, resampleIndices } from '../../../src/apps/curation/resampledKmeans.js';
import { Rng } from '../../../src/core/rng.js';
import { blobs, sqDist } from './data.js';

const kernels2 = new DistanceKernels(2);
after(() => kernels2.dispose());

/** 4000 points of N(0, I) (dense) and 12 tight blobs of 20 points on a circle of radius 12 (sparse). */
function denseAndSparse(): { x: Float32Array; n: number; sparse: [number, number][] } {
  const g = new Rng(7);
  const pts: number[] = [];
  for (let i = 0; i < 4000; i++) pts.push(g.normal(), g.normal());
  const sparse: [number, number][] = Array.from({ length: 12 }, (_, b) => [12 * Math.cos((2 * Math.PI * b) / 12), 12 * Math.sin((2 * Math.PI * b) / 12)]);
  for (const [cx, cy] of sparse) for (let i = 0; i < 20; i++) pts.push(cx + 0.3 * g.normal(), cy + 0.3 * g.normal());
  return { x: Float32Array.from(pts), n: pts.length / 2, sparse };
}

function coverage(centroids: Float32Array, sparse: [number, number][]): { dense: number; covered: number } {
  const k = centroids.length / 2;
  let dense = 0;
  for (let c = 0; c < k; c++) if (Math.hypot(centroids[2 * c]!, centroids[2 * c + 1]!) < 4) dense++;
  const covered = sparse.filter(([sx, sy]) => Array.from({ length: k }, (_, c) => Math.hypot(centroids[2 * c]! - sx, centroids[2 * c + 1]! - sy)).some((d) => d < 1)).length;
  return { dense, covered };
}

test('resampling moves centroids out of the dense region towards the sparse modes', async () => {
  const { x, n, sparse } = denseAndSparse();
  // k = 16 for 12 sparse blobs + 1 dense one: plain k-means (SSE-optimal-ish) spends 5–6 centroids on the
  // dense Gaussian and leaves some sparse blobs merged; with 10 closest points per cluster kept at each of
  // 9 resampling steps, every cluster weighs the same in the next fit, so centroids spread evenly.
  for (const seed of [1, 2, 3]) {
    const plain = await resampledKmeans(x, n, { nClusters: 16, nIters: 30 }, kernels2, new Rng(seed));
    const resampled = await resampledKmeans(x, n, { nClusters: 16, nIters: 30, nResamplingSteps: 10, sampleSize: 10 }, kernels2, new Rng(seed));
    const before = coverage(plain.centroids, sparse);
    const afterResampling = coverage(resampled.centroids, sparse);
    assert.ok(before.dense >= 5 && before.covered < 12, `seed ${seed}: plain k-means ${JSON.stringify(before)}`);
    assert.ok(afterResampling.dense < before.dense, `seed ${seed}: ${before.dense} → ${afterResampling.dense} dense centroids`);
    assert.ok(afterResampling.covered > before.covered && afterResampling.covered >= 11, `seed ${seed}: ${before.covered} → ${afterResampling.covered} sparse blobs covered`);
  }
});

test("a resampling step keeps each cluster's sampleSize closest ('c') or random ('r') members, sorted", () => {
  const sorted = [Int32Array.from([7, 2, 9, 4]), Int32Array.from([]), Int32Array.from([5]), Int32Array.from([0, 8, 1])];
  assert.deepEqual(resampleIndices(sorted, 2, 'c', new Rng(0)), Int32Array.from([0, 2, 5, 7, 8]));
  const r = resampleIndices(sorted, 2, 'r', new Rng(0));
  assert.equal(r.length, 5);
  assert.deepEqual(r, r.slice().sort());
  assert.ok([...r].filter((i) => [7, 2, 9, 4].includes(i)).length === 2 && r.includes(5) && [...r].filter((i) => [0, 8, 1].includes(i)).length === 2);
  assert.deepEqual(resampleIndices(sorted, 2, 'r', new Rng(0)), r);
});

test('the level result: clusters come from the last assignment, closest member first', async () => {
  const data = blobs([40, 40, 40], 2, 6, 1, 12);
  const res = await resampledKmeans(data.x, data.n, { nClusters: 3, nIters: 10, nResamplingSteps: 3, sampleSize: 5 }, kernels2, new Rng(4));
  assert.deepEqual(res.assignment, await kernels2.nearest(data.x, data.n, res.centroids, 3));
  const fromAssignment = clustersFromAssignment(res.assignment, 3);
  res.clusters.forEach((members, c) => {
    assert.deepEqual([...members].sort((a, b) => a - b), [...fromAssignment[c]!]);
    for (let i = 1; i < members.length; i++) assert.ok(sqDist(data.x, members[i - 1]!, res.centroids, c, 2) <= sqDist(data.x, members[i]!, res.centroids, c, 2));
  });
  assert.deepEqual(sortClustersByDistance(data.x, 2, res.centroids, fromAssignment), res.clusters);
});

test('hierarchical k-means: level l clusters the centroids of level l−1 and the walk reaches every point once', async () => {
  const data = blobs(Array(8).fill(30), 2, 10, 0.5, 5);
  const progress: string[] = [];
  const levels = await hierarchicalKmeans(data.x, data.n, 2, [{ nClusters: 16, nIters: 5 }, { nClusters: 4, nIters: 5, nResamplingSteps: 2, sampleSize: 2 }], {
    seed: 3,
    onProgress: (p) => progress.push(`${p.level}/${p.levels}:${p.step}/${p.steps}:${p.phase}`),
  });
  assert.equal(levels.length, 2);
  assert.equal(levels[1]!.assignment.length, 16);
  assert.deepEqual(levels[1]!.assignment, await kernels2.nearest(levels[0]!.centroids, 16, levels[1]!.centroids, 4));
  const reached = levels[1]!.clusters.flatMap((sub) => [...sub].flatMap((s) => [...levels[0]!.clusters[s]!]));
  assert.deepEqual(reached.sort((a, b) => a - b), Array.from({ length: data.n }, (_, i) => i));
  assert.ok(progress.includes('1/2:0/1:seeding') && progress.includes('1/2:0/1:iterating'));
  assert.ok(progress.includes('2/2:1/2:iterating'));
  const again = await hierarchicalKmeans(data.x, data.n, 2, [{ nClusters: 16, nIters: 5 }, { nClusters: 4, nIters: 5, nResamplingSteps: 2, sampleSize: 2 }], { seed: 3 });
  assert.deepEqual(again, levels);
});

test('hierarchical k-means names the bad level before clustering', async () => {
  const data = blobs([10, 10], 2, 5, 1, 1);
  await assert.rejects(hierarchicalKmeans(data.x, 20, 2, [{ nClusters: 5 }, { nClusters: 6 }]), /levels\[1\]\.nClusters=6 exceeds the 5 clusters of level 1/);
  await assert.rejects(hierarchicalKmeans(data.x, 20, 2, [{ nClusters: 21 }]), /levels\[0\]\.nClusters=21 exceeds the 20 points/);
  await assert.rejects(hierarchicalKmeans(data.x, 20, 2, [{ nClusters: 2, sampleSize: 0 }]), /levels\[0\]\.sampleSize must be an integer ≥ 1/);
  await assert.rejects(hierarchicalKmeans(data.x, 20, 2, []), /levels is empty/);
  await assert.rejects(hierarchicalKmeans(data.x, 20, 3, [{ nClusters: 2 }]), /embeddings have 40 values, expected n=20 × D=3/);
});
