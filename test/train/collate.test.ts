import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Rng } from '../../src/core/rng.js';
import { MaskingGenerator } from '../../src/data/maskingGenerator.js';
import { collateMasks } from '../../src/data/collate.js';
import { torchLinspaceFloat32 } from '../../src/core/torchLinspace.js';
import { readManifest } from '../../tools/conformance/manifest.js';
import { CONFORMANCE_DIR } from '../helpers.js';

const SUITE = CONFORMANCE_DIR;
const gen16 = (): MaskingGenerator => new MaskingGenerator(16, { maxNumPatches: 128 });

function rowCounts(masks: Uint8Array, B: number, N: number): number[] {
  return Array.from({ length: B }, (_, b) => masks.subarray(b * N, (b + 1) * N).reduce((a, v) => a + v, 0));
}

test('collate: fields agree with each other', () => {
  const B = 8;
  const N = 256;
  for (let seed = 0; seed < 20; seed++) {
    const out = collateMasks({ batchSize: B, maskGenerator: gen16(), rng: new Rng(seed) });
    assert.equal(out.collatedMasks.length, B * N);
    assert.equal(out.nSamplesMasked, 4);
    const counts = rowCounts(out.collatedMasks, B, N);
    const total = counts.reduce((a, c) => a + c, 0);
    assert.equal(out.nMaskedPatches, total);
    assert.equal(out.maskIndicesList.length, total);
    assert.equal(out.masksWeight.length, total);
    // Indices: ascending, and exactly the masked positions.
    for (let k = 0; k < total; k++) {
      assert.equal(out.collatedMasks[out.maskIndicesList[k]!], 1);
      if (k > 0) assert.ok(out.maskIndicesList[k]! > out.maskIndicesList[k - 1]!);
    }
    // Weights: 1/count of the patch's own image, so each masked image sums to one.
    const perImage = new Array<number>(B).fill(0);
    for (let k = 0; k < total; k++) {
      const b = Math.floor(out.maskIndicesList[k]! / N);
      assert.equal(out.masksWeight[k], Math.fround(1 / counts[b]!));
      perImage[b]! += out.masksWeight[k]!;
    }
    for (let b = 0; b < B; b++) {
      if (counts[b]! > 0) assert.ok(Math.abs(perImage[b]! - 1) < 1e-5, `image ${b} weights sum to ${perImage[b]}`);
    }
    // At most nSamplesMasked images are masked, and half the batch is asked for none.
    assert.ok(counts.filter((c) => c > 0).length <= 4);
    assert.ok(counts.filter((c) => c === 0).length >= B - 4);
  }
});

test('collate: ratios come from disjoint bins of [0.1, 0.5]', () => {
  // probs = linspace(0.1, 0.5, 5) in float32 -> bin tops int(256 * p) = 51, 76, 102, 128.
  const tops = [51, 76, 102, 128];
  const bottoms = [25, 51, 76, 102];
  let nearBottoms = 0;
  for (let seed = 0; seed < 30; seed++) {
    const out = collateMasks({ batchSize: 8, maskGenerator: gen16(), rng: new Rng(seed) });
    assert.equal(out.upperbound, 51 + 76 + 102 + 128);
    const masked = rowCounts(out.collatedMasks, 8, 256).filter((c) => c > 0).sort((a, b) => a - b);
    masked.forEach((c, k) => assert.ok(c <= tops[k]!, `seed ${seed}: ${masked}`));
    // Shortfalls are small, so the counts should also sit (nearly) in their own bins.
    if (masked.length === 4 && masked.every((c, k) => c >= bottoms[k]! - 8)) nearBottoms++;
  }
  assert.ok(nearBottoms >= 28, `${nearBottoms}/30 batches with counts in their bins`);
});

test('collate: masked images are shuffled across the batch', () => {
  const B = 8;
  const maskedAt = new Array<number>(B).fill(0);
  const patterns = new Set<string>();
  for (let seed = 0; seed < 40; seed++) {
    const out = collateMasks({ batchSize: B, maskGenerator: gen16(), rng: new Rng(seed) });
    const counts = rowCounts(out.collatedMasks, B, 256);
    counts.forEach((c, b) => (maskedAt[b]! += c > 0 ? 1 : 0));
    patterns.add(counts.map((c) => (c > 0 ? 1 : 0)).join(''));
  }
  for (const m of maskedAt) assert.ok(m > 5 && m < 35, `per-position mask frequency ${maskedAt}`);
  assert.ok(patterns.size > 10);
});

test('collate: deterministic for a seed', () => {
  const a = collateMasks({ batchSize: 6, maskGenerator: gen16(), rng: new Rng(99) });
  const b = collateMasks({ batchSize: 6, maskGenerator: gen16(), rng: new Rng(99) });
  assert.deepEqual(a, b);
});

test('collate: odd batches, no masking, options', () => {
  const odd = collateMasks({ batchSize: 5, maskGenerator: gen16(), rng: new Rng(1) });
  assert.equal(odd.nSamplesMasked, 2);
  const none = collateMasks({ batchSize: 4, maskGenerator: gen16(), rng: new Rng(1), maskProbability: 0 });
  assert.equal(none.nSamplesMasked, 0);
  assert.equal(none.nMaskedPatches, 0);
  assert.equal(none.upperbound, 0);
  assert.equal(none.collatedMasks.length, 4 * 256);
  const all = collateMasks({ batchSize: 4, maskGenerator: gen16(), rng: new Rng(2), maskProbability: 1, maskRatioTuple: [0.2, 0.2] });
  assert.equal(all.nSamplesMasked, 4);
  assert.equal(all.upperbound, 4 * 51);
  assert.throws(() => collateMasks({ batchSize: 4, maskGenerator: gen16(), rng: new Rng(0), nTokens: 100 }));
});

test('collate: torch float32 linspace', () => {
  const p = torchLinspaceFloat32(0.1, 0.5, 5);
  assert.equal(p[0], Math.fround(0.1));
  assert.equal(p[4], Math.fround(0.5));
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(p[i]! - (0.1 + 0.1 * i)) < 1e-7);
  assert.deepEqual([...torchLinspaceFloat32(0.1, 0.5, 1)], [Math.fround(0.1)]);
});

test('collate: upperbound agrees with the train.ssl_step cases', { skip: !existsSync(`${SUITE}/manifest.json`) && 'no conformance suite' }, async () => {
  const manifest = await readManifest(SUITE);
  const cases = manifest.cases.filter((c) => c.kind === 'train.ssl_step');
  for (const c of cases) {
    const cfg = c.config as { backbone: { img_size: number; patch_size: number }; n_images: number; n_global_crops: number; upperbound: number };
    const grid = Math.floor(cfg.backbone.img_size / cfg.backbone.patch_size);
    const out = collateMasks({
      batchSize: cfg.n_images * cfg.n_global_crops,
      maskGenerator: new MaskingGenerator(grid, { maxNumPatches: (grid * grid) / 2 }),
      rng: new Rng(0),
    });
    assert.equal(out.upperbound, cfg.upperbound, c.id);
  }
});
