/** Balanced hierarchical sampling: the water-filling split on hand-computed cases and the level walk. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { curate } from '../../../src/apps/curation/curate.js';
import { hierarchicalSampling, pointCounts } from '../../../src/apps/curation/hierarchicalSampling.js';
import { splitBudget, waterLevel } from '../../../src/apps/curation/waterFilling.js';
import { Rng } from '../../../src/core/rng.js';
import { blobs } from './data.js';

const sum = (a: ArrayLike<number>): number => Array.from(a).reduce((s, v) => s + v, 0);

test('water-filling on sizes [1, 5, 10, 2] with budget 12', () => {
  // Σ min(x, s): x = 3 → 1+3+3+2 = 9; x = 4 → 1+4+4+2 = 11; x = 5 → 1+5+5+2 = 13 > 12. So the cap is 4,
  // the allocation [1, 4, 4, 2] (11), and the 1 left over goes to one of the clusters above 4 (sizes 5, 10).
  assert.equal(waterLevel([1, 5, 10, 2], 12), 4);
  const seen = new Set<string>();
  for (let seed = 0; seed < 40; seed++) {
    const a = splitBudget([1, 5, 10, 2], 12, 1, new Rng(seed));
    assert.equal(sum(a), 12);
    seen.add(a.join(','));
  }
  assert.deepEqual([...seen].sort(), ['1,4,5,2', '1,5,4,2']);
});

test('water-filling: exact fits, remainders, multiplier, budget ≥ pool, budget 0', () => {
  // [3, 3, 3], 7: x = 2 gives 6, x = 3 gives 9 → cap 2, one +1 among all three.
  assert.equal(waterLevel([3, 3, 3], 7), 2);
  assert.deepEqual([...splitBudget([3, 3, 3], 7, 1, new Rng(1))].sort(), [2, 2, 3]);
  // [2, 8, 3], 9: x = 3 gives 2+3+3 = 8, x = 4 gives 2+4+3 = 9 exactly → cap 4, no remainder.
  assert.deepEqual(splitBudget([2, 8, 3], 9, 1, new Rng(1)), Int32Array.from([2, 4, 3]));
  // Multiplier 2 doubles the capacities: [1, 5] → [2, 10]; budget 8: x = 6 gives 2 + 6 = 8.
  assert.deepEqual(splitBudget([1, 5], 8, 2, new Rng(1)), Int32Array.from([2, 6]));
  // The whole pool fits: each gets its capacity, the total (18) stays under the budget.
  assert.equal(waterLevel([1, 5, 10, 2], 100), 10);
  assert.deepEqual(splitBudget([1, 5, 10, 2], 100, 1, new Rng(1)), Int32Array.from([1, 5, 10, 2]));
  assert.deepEqual(splitBudget([1, 5, 10, 2], 18, 1, new Rng(1)), Int32Array.from([1, 5, 10, 2]));
  assert.deepEqual(splitBudget([1, 5, 10, 2], 0, 1, new Rng(1)), Int32Array.from([0, 0, 0, 0]));
  assert.deepEqual(splitBudget([0, 0], 5, 1, new Rng(1)), Int32Array.from([0, 0]));
  assert.throws(() => splitBudget([1, 2], -1, 1, new Rng(1)), /target must be a non-negative integer, got -1/);
  assert.throws(() => splitBudget([1, 2], 1.5, 1, new Rng(1)), /target must be a non-negative integer/);
  assert.throws(() => splitBudget([1, 2], 1, 0, new Rng(1)), /multiplier must be a positive integer/);
});

test('water-filling: the remainder draw is seeded and only ever lands above the cap', () => {
  const sizes = [9, 1, 7, 30, 4, 12, 7];
  // x = 7 gives 7+1+7+7+4+7+7 = 40 exactly; x = 6 gives 6+1+6+6+4+6+6 = 35. Budget 38: cap 6, remainder 3.
  assert.equal(waterLevel(sizes, 40), 7);
  const cap = waterLevel(sizes, 38);
  assert.equal(cap, 6);
  const counts = new Array(sizes.length).fill(0);
  for (let seed = 0; seed < 200; seed++) {
    const a = splitBudget(sizes, 38, 1, new Rng(seed));
    assert.deepEqual(splitBudget(sizes, 38, 1, new Rng(seed)), a);
    assert.equal(sum(a), 38);
    a.forEach((v, i) => {
      assert.ok(v === Math.min(6, sizes[i]!) || (v === 7 && sizes[i]! > 6));
      if (v === 7) counts[i]++;
    });
  }
  // Five clusters exceed 6 (9, 7, 30, 12, 7), 3 of them get +1: each about 3/5 of the time.
  [0, 2, 3, 5, 6].forEach((i) => assert.ok(counts[i] > 90 && counts[i] < 150, `cluster ${i}: ${counts[i]} / 200`));
  assert.equal(counts[1] + counts[4], 0);
});

test('water-filling agrees with a brute-force scan on random cases', () => {
  const g = new Rng(5);
  for (let t = 0; t < 300; t++) {
    const sizes = Array.from({ length: g.int(1, 8) }, () => g.int(0, 20));
    const target = g.int(0, 100);
    let best = 0;
    for (let x = 0; x <= Math.max(...sizes); x++) if (sum(sizes.map((s) => Math.min(x, s))) <= target) best = x;
    assert.equal(waterLevel(sizes, target), best, `${sizes} / ${target}`);
  }
});

const numpy = existsSync('/usr/bin/python3') && (() => {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test('water-filling cap equals a numpy re-statement of the reference rule', { skip: !numpy && 'no python3 with numpy' }, () => {
  const g = new Rng(8);
  const cases = Array.from({ length: 50 }, () => ({ sizes: Array.from({ length: g.int(1, 10) }, () => g.int(0, 50)), target: g.int(0, 200) }));
  // The rule stated directly in numpy: every candidate cap 0..max(a) at once, keep the largest that fits.
  const script = `
import json, sys
import numpy as np
def cap(sizes, target):
    a = np.array(sizes)
    xs = np.arange(a.max() + 1)
    fits = np.minimum(xs[:, None], a[None, :]).sum(axis=1) <= target
    return int(xs[fits].max())
print(json.dumps([cap(c["sizes"], c["target"]) for c in json.load(sys.stdin)]))
`;
  const out = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(cases) }).toString()) as number[];
  assert.deepEqual(cases.map((c) => waterLevel(c.sizes, c.target)), out);
});

// Two levels by hand. Level 1 (points, closest first): c0 = 0..9, c1 = [10, 11], c2 = 12..16, c3 = [17].
// Level 2: A = [c0, c3] (11 points), B = [c1, c2] (7 points).
const hierarchy = [
  { clusters: [Int32Array.from({ length: 10 }, (_, i) => i), Int32Array.from([10, 11]), Int32Array.from([12, 13, 14, 15, 16]), Int32Array.from([17])] },
  { clusters: [Int32Array.from([0, 3]), Int32Array.from([1, 2])] },
];

test('hierarchical walk by hand: budget 10 over A (11 points) and B (7 points)', () => {
  assert.deepEqual(pointCounts(hierarchy).map((c) => [...c]), [[10, 2, 5, 1], [11, 7]]);
  // Top: x = 5 gives 5 + 5 = 10 → A 5, B 5. A over [10, 1]: x = 4 → [4, 1]. B over [2, 5]: x = 3 → [2, 3].
  // 'c' takes the closest-first prefixes: 0..3 | 17 | 10, 11 | 12, 13, 14.
  const c = hierarchicalSampling(hierarchy, 10, { strategy: 'c', rng: new Rng(0) });
  assert.deepEqual(c, Int32Array.from([0, 1, 2, 3, 17, 10, 11, 12, 13, 14]));
  const r = hierarchicalSampling(hierarchy, 10, { strategy: 'r', rng: new Rng(0) });
  assert.equal(new Set(r).size, 10);
  assert.equal([...r].filter((i) => i < 10).length, 4);
  assert.equal([...r].filter((i) => i >= 12 && i <= 16).length, 3);
  assert.deepEqual(hierarchicalSampling(hierarchy, 10, { strategy: 'r', rng: new Rng(0) }), r);
});

test('hierarchical walk: sums to the budget, stops at the pool, replicates with a multiplier', () => {
  for (let budget = 0; budget <= 18; budget++) {
    const s = hierarchicalSampling(hierarchy, budget, { strategy: 'r', rng: new Rng(budget) });
    assert.equal(s.length, budget);
    assert.equal(new Set(s).size, budget);
  }
  const all = hierarchicalSampling(hierarchy, 1000, { strategy: 'c', rng: new Rng(0) });
  assert.deepEqual([...all].sort((a, b) => a - b), Array.from({ length: 18 }, (_, i) => i));
  const twice = hierarchicalSampling(hierarchy, 1000, { strategy: 'c', multiplier: 2, rng: new Rng(0) });
  assert.equal(twice.length, 36);
  // Multiplier 2, budget 30: capacities A 22, B 14 → x = 16: 16 + 14 = 30. B takes its 14 (each point twice);
  // A over capacities [20, 2] with 16: x = 14 → [14, 2]: c0 gives its 10 points once + 4 closest again.
  const m = hierarchicalSampling(hierarchy, 30, { strategy: 'c', multiplier: 2, rng: new Rng(0) });
  assert.equal(m.length, 30);
  const times = (i: number): number => [...m].filter((v) => v === i).length;
  assert.deepEqual(Array.from({ length: 18 }, (_, i) => times(i)), [2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]);
  assert.throws(() => hierarchicalSampling(hierarchy, -1, { strategy: 'c', rng: new Rng(0) }), /budget must be a non-negative integer, got -1/);
  assert.throws(() => hierarchicalSampling(hierarchy, 3, { strategy: 'x' as 'c', rng: new Rng(0) }), /strategy must be 'r' or 'c'/);
});

test("curate with 'c' takes the points closest to each centroid", async () => {
  const data = blobs([50, 50], 4, 10, 1, 6);
  const r = await curate(data.x, data.n, 4, { levels: [{ nClusters: 2, nIters: 10 }], budget: 10, strategy: 'c', seed: 1 });
  assert.equal(r.selected.length, 10);
  for (let c = 0; c < 2; c++) {
    const members = r.levels[0]!.clusters[c]!;
    const dist = (i: number): number => {
      let s = 0;
      for (let d = 0; d < 4; d++) s += (data.x[i * 4 + d]! - r.levels[0]!.centroids[c * 4 + d]!) ** 2;
      return s;
    };
    const chosen = [...r.selected].filter((i) => members.includes(i));
    assert.equal(chosen.length, 5);
    const worstChosen = Math.max(...chosen.map(dist));
    const bestOther = Math.min(...[...members].filter((i) => !chosen.includes(i)).map(dist));
    assert.ok(worstChosen <= bestOther, `cluster ${c}: a farther point was chosen`);
  }
});

test('balanced sampling keeps far more of a small mode than uniform random sampling', async () => {
  const data = blobs([1000, 20], 8, 10, 1, 9);
  const isSmall = (i: number): boolean => data.labels[i] === 1;
  const progress: number[] = [];
  const r = await curate(data.x, data.n, 8, {
    levels: [{ nClusters: 10, nIters: 10 }, { nClusters: 2, nIters: 10 }],
    budget: 100,
    strategy: 'r',
    seed: 2,
    onProgress: (p) => progress.push(p.level),
  });
  assert.equal(r.selected.length, 100);
  assert.equal(new Set(r.selected).size, 100);
  const balanced = [...r.selected].filter(isSmall).length;
  // Uniform random: 100 of 1020 holds ~2 of the 20 small-blob points (hypergeometric mean 1.96).
  const pool = Array.from({ length: data.n }, (_, i) => i);
  const uniform = new Rng(2).shuffle(pool).slice(0, 100).filter(isSmall).length;
  assert.ok(uniform <= 6, `uniform picked ${uniform}`);
  // The top level separates the two modes, so the small one gets min(20, 50) = 20: all of it.
  assert.equal(balanced, 20);
  assert.ok(progress.includes(1) && progress.includes(2));
  const again = await curate(data.x, data.n, 8, { levels: [{ nClusters: 10, nIters: 10 }, { nClusters: 2, nIters: 10 }], budget: 100, strategy: 'r', seed: 2 });
  assert.deepEqual(again.selected, r.selected);
});

test('curate names its bad arguments', async () => {
  const x = new Float32Array(40);
  await assert.rejects(curate(x, 10, 3, { levels: [{ nClusters: 2 }], budget: 5, strategy: 'r' }), /embeddings have 40 values, expected n=10 × d=3/);
  await assert.rejects(curate(x, 10, 4, { levels: [{ nClusters: 2 }], budget: -1, strategy: 'r' }), /budget must be a non-negative integer, got -1/);
  await assert.rejects(curate(x, 10, 4, { levels: [{ nClusters: 11 }], budget: 5, strategy: 'r' }), /nClusters=11 exceeds the 10 points/);
  await assert.rejects(curate(x, 10, 4, { levels: [{ nClusters: 2 }], budget: 5, strategy: 'z' as 'r' }), /strategy must be 'r' or 'c'/);
});
