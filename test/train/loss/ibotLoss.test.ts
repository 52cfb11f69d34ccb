import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as op from '../../../src/graph/ops.js';
import { ibotPatchLoss, ibotPatchLossMasked, ibotSinkhornKnoppTeacher, ibotSoftmaxCenterTeacher, ibotUpdateCenter } from '../../../src/train/loss/ibotPatchLoss.js';
import { maskedPatchIndices, masksWeight } from '../../../src/data/collate.js';
import { Tensor } from '../../../src/core/tensor.js';
import { checkGradients, rand } from '../../graph/autodiff/fd.js';
import * as ref from './reference.js';
import { close, runGraph } from './lossGraph.js';

// 3 images of 5 patches; image 2 has no masked patch (its weight count is clamped to 1, and it adds nothing).
const masks = Uint8Array.from([1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
const [IMAGES, PATCHES, K] = [3, 5, 9];
const M = 4;

test('masks_weight: 1 / (masked patches of the image) for each masked patch, in row-major order', () => {
  assert.deepEqual([...masksWeight(masks, IMAGES, PATCHES)], [1 / 3, 1 / 3, 1 / 3, 1].map(Math.fround));
  assert.deepEqual([...masksWeight(new Uint8Array(6), 2, 3)], []);
});

test('mask_indices_list: flat indices of the masked patches, ascending, in the order of masks_weight', () => {
  assert.deepEqual([...maskedPatchIndices(masks)], [0, 2, 3, 8]);
  assert.deepEqual([...maskedPatchIndices(new Uint8Array(6))], []);
});

test('forward_masked matches the float64 reference, with padded rows cut at n_masked_patches', async () => {
  const padded = 6; // an upper-bound buffer: rows past M are padding
  const s = rand([padded, K], 1, -3, 3);
  const t = rand([padded, K], 2, -2, 2);
  const w = masksWeight(masks, IMAGES, PATCHES);
  const out = await runGraph(
    (g) => {
      const targets = op.softmax(g.input('t', 'float32', [padded, K]), -1);
      const loss = ibotPatchLossMasked(g.input('s', 'float32', [padded, K]), targets, {
        masksWeight: g.input('w', 'float32', [M]),
        studentMasksFlat: g.input('m', 'bool', ['B', PATCHES]),
        nMaskedPatches: M,
        studentTemp: 0.1,
      });
      return { loss };
    },
    { s, t, w: Tensor.float32(w, [M]), m: new Tensor('bool', masks, [IMAGES, PATCHES]) },
  );
  const targets = ref.toMat(t.data, padded, K).map((r) => ref.softmaxRow(r));
  const expected = ref.ibotMasked(ref.toMat(s.data, padded, K), targets, Array.from(w), IMAGES, 0.1, M);
  assert.ok(close(out['loss']!, [expected]), `${out['loss']![0]} vs ${expected}`);
});

test('forward (full patch grids with a mask) matches the float64 reference', async () => {
  const s = rand([IMAGES, PATCHES, K], 3, -3, 3);
  const t = rand([IMAGES, PATCHES, K], 4, -2, 2);
  const out = await runGraph(
    (g) => ({
      loss: ibotPatchLoss(g.input('s', 'float32', ['B', PATCHES, K]), op.softmax(g.input('t', 'float32', ['B', PATCHES, K]), -1), g.input('m', 'bool', ['B', PATCHES]), 0.2),
    }),
    { s, t, m: new Tensor('bool', masks, [IMAGES, PATCHES]) },
  );
  const S = Array.from({ length: IMAGES }, (_, b) => ref.toMat(s.data.subarray(b * PATCHES * K), PATCHES, K));
  const T = Array.from({ length: IMAGES }, (_, b) => ref.toMat(t.data.subarray(b * PATCHES * K), PATCHES, K).map((r) => ref.softmaxRow(r)));
  const mk = Array.from({ length: IMAGES }, (_, b) => Array.from(masks.subarray(b * PATCHES, (b + 1) * PATCHES)));
  const expected = ref.ibotFull(S, T, mk, 0.2);
  assert.ok(close(out['loss']!, [expected]), `${out['loss']![0]} vs ${expected}`);
});

test('teacher side: [1, 1, K] centering, the center update (mean over patches), Sinkhorn with B = n_masked_patches', async () => {
  const t = rand([M, K], 5, -2, 2);
  const center = rand([1, 1, K], 6, -0.5, 0.5);
  const out = await runGraph(
    (g) => {
      const tt = g.input('t', 'float32', ['M', K]);
      const c = g.input('c', 'float32', [1, 1, K]);
      return {
        sc: ibotSoftmaxCenterTeacher(op.unsqueeze(tt, [0]), c, 0.06),
        center: ibotUpdateCenter(c, op.unsqueeze(tt, [0]), 0.9),
        sk: ibotSinkhornKnoppTeacher(tt, 0.06, g.scalar(M)),
      };
    },
    { t, c: center },
  );
  const T = ref.toMat(t.data, M, K);
  const c = Array.from(center.data);
  assert.ok(close(out['sc']!, ref.flat(ref.softmaxCenter(T, c, 0.06))));
  // One image of M patches: the batch center is the mean over the patches.
  assert.ok(close(out['center']!, ref.updateCenter(c, T, 0.9)));
  assert.ok(close(out['sk']!, ref.flat(ref.sinkhorn(T, 0.06, 3, M)), 1e-4));
});

test('the forward_masked gradient w.r.t. the student matches finite differences', async () => {
  const w = masksWeight(masks, IMAGES, PATCHES);
  await checkGradients({
    build: (g) => {
      const targets = ibotSinkhornKnoppTeacher(g.input('t', 'float32', ['M', K]), 0.07, M);
      return ibotPatchLossMasked(g.input('s', 'float32', ['M', K]), targets, { masksWeight: g.input('w', 'float32', ['M']), studentMasksFlat: IMAGES });
    },
    feeds: { s: rand([M, K], 7, -3, 3), t: rand([M, K], 8, -2, 2), w: Tensor.float32(w, [M]) },
    wrt: ['s'],
  });
});
