import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradients } from '../../../src/graph/autodiff.js';
import { chunk } from '../../../src/train/loss/chunk.js';
import { dinoLoss, sinkhornKnoppTeacher, softmaxCenterTeacher, updateCenter } from '../../../src/train/loss/dinoClsTokenLoss.js';
import * as op from '../../../src/graph/ops.js';
import { checkGradients, rand } from '../../graph/autodiff/fd.js';
import * as ref from './reference.js';
import { close, runGraph } from './lossGraph.js';

const [B, K] = [6, 11];
const student = rand([B, K], 1, -3, 3);
const teacher = rand([B, K], 2, -2, 2);
const center = rand([1, K], 3, -0.5, 0.5);
const S = ref.toMat(student.data, B, K);
const T = ref.toMat(teacher.data, B, K);

test('softmax centering and the center update match the official formulas', async () => {
  const out = await runGraph(
    (g) => {
      const t = g.input('t', 'float32', ['B', K]);
      const c = g.input('c', 'float32', [1, K]);
      return { sc: softmaxCenterTeacher(t, c, 0.05), center: updateCenter(c, t, 0.8) };
    },
    { t: teacher, c: center },
  );
  assert.ok(close(out['sc']!, ref.flat(ref.softmaxCenter(T, Array.from(center.data), 0.05))));
  assert.ok(close(out['center']!, ref.updateCenter(Array.from(center.data), T, 0.8)));
});

test('the DINO loss pairs every student chunk with every teacher chunk, with torch.chunk sizes', async () => {
  // 6 rows in 4 chunks is 3 pieces of 2 (torch.chunk), so the loss has 9 terms, not 16.
  for (const chunks of [1, 2, 3, 4]) {
    for (const st of [0.1, 0.25]) {
      const out = await runGraph(
        (g) => {
          const s = g.input('s', 'float32', [B, K]);
          const t = op.softmax(g.input('t', 'float32', [B, K]), -1);
          return { loss: dinoLoss(chunk(s, chunks), chunk(t, chunks), st) };
        },
        { s: student, t: teacher },
      );
      const targets = T.map((r) => ref.softmaxRow(r));
      const expected = ref.dinoLoss(ref.chunkRows(S, chunks), ref.chunkRows(targets, chunks), st);
      assert.ok(close(out['loss']!, [expected]), `chunks=${chunks}: ${out['loss']![0]} vs ${expected}`);
    }
  }
});

test('the loss against Sinkhorn targets matches the float64 reference; its student gradient matches finite differences', async () => {
  const out = await runGraph(
    (g) => {
      const s = g.input('s', 'float32', [B, K]);
      const targets = sinkhornKnoppTeacher(g.input('t', 'float32', [B, K]), 0.07, { nIterations: 3 });
      return { loss: dinoLoss(chunk(s, 2), chunk(targets, 2), 0.1) };
    },
    { s: student, t: teacher },
  );
  const expected = ref.dinoLoss(ref.chunkRows(S, 2), ref.chunkRows(ref.sinkhorn(T, 0.07, 3), 2), 0.1);
  assert.ok(close(out['loss']!, [expected], 1e-5), `${out['loss']![0]} vs ${expected}`);
  await checkGradients({
    build: (g) => {
      const s = g.input('s', 'float32', [B, K]);
      const targets = sinkhornKnoppTeacher(g.input('t', 'float32', [B, K]), 0.07, { nIterations: 3 });
      return dinoLoss(chunk(s, 2), chunk(targets, 2), 0.1);
    },
    feeds: { s: student, t: teacher },
    wrt: ['s'],
  });
});

test('teacher targets carry no gradient (stop-gradient, as the official @torch.no_grad)', async () => {
  const out = await runGraph(
    (g) => {
      const s = g.input('s', 'float32', [B, K]);
      const t = g.input('t', 'float32', [B, K]);
      const c = g.input('c', 'float32', [1, K]);
      const loss = op.add(dinoLoss([s], [sinkhornKnoppTeacher(t, 0.07)]), dinoLoss([s], [softmaxCenterTeacher(t, c, 0.07)]));
      const grads = gradients(g, loss, [t, c, s]);
      return { gt: grads.get('t')!, gc: grads.get('c')!, gs: grads.get('s')! };
    },
    { s: student, t: teacher, c: center },
  );
  assert.ok(out['gt']!.every((v) => v === 0) && out['gc']!.every((v) => v === 0));
  assert.ok(out['gs']!.some((v) => v !== 0));
});
