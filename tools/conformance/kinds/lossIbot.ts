/**
 * Kind `loss.ibot`: the masked-patch loss as training computes it. From `input.masks` [B, N]: the
 * per-patch `masks_weight`; the teacher's masked-patch logits `input.teacher_masked` [M, K] give the
 * softmax-centered targets (center `input.center` [1, 1, K], the teacher tokens unsqueezed to
 * [1, M, K] as ssl_meta_arch does) and the Sinkhorn-Knopp targets with B = n_masked_patches; the loss is
 * `forward_masked` of `input.student_masked` against the Sinkhorn targets, with its gradient.
 */
import { join } from 'node:path';
import { gradients } from '../../../src/graph/autodiff.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import * as op from '../../../src/graph/ops.js';
import { ibotPatchLossMasked, ibotSinkhornKnoppTeacher, ibotSoftmaxCenterTeacher } from '../../../src/train/loss/ibotPatchLoss.js';
import { masksWeight } from '../../../src/data/collate.js';
import { Tensor } from '../../../src/core/tensor.js';
import { withCaseFile } from '../caseFile.js';
import type { KindHandler } from '../kind.js';
import { compareExpected, param, readExpected, runAndCompare } from './expectedTensors.js';

export const lossIbot: KindHandler = {
  kind: 'loss.ibot',
  async run(manifest, c) {
    const teacherTemp = param(c, 'teacher_temp', 0.07);
    const studentTemp = param(c, 'student_temp', 0.1);
    const iterations = param(c, 'sinkhorn_iterations', 3);
    return withCaseFile(join(manifest.dir, c.file), async (f) => {
      const student = await f.float32('input.student_masked');
      const teacher = await f.float32('input.teacher_masked');
      const center = await f.float32('input.center');
      const masks = await f.bool('input.masks');
      const [B, N] = masks.shape as [number, number];
      const weights = masksWeight(masks.data, B, N);
      const nMasked = weights.length;

      const g = new GraphBuilder('loss_ibot');
      // Student rows past n_masked_patches (an upper-bound buffer, if a case has one) are cut by the loss.
      const s = g.input('student_masked', 'float32', ['rows', student.shape[1]!]);
      const t = g.input('teacher_masked', 'float32', ['teacher_rows', teacher.shape[1]!]);
      const ctr = g.input('center', 'float32', center.shape);
      const w = g.input('masks_weight', 'float32', [nMasked]);
      const m = g.input('masks', 'bool', ['images', 'patches']);
      // n_masked_patches_tensor: a run-time scalar, as it changes with every batch.
      const nMaskedPatches = g.input('n_masked_patches', 'float32', []);
      g.output('softmax_center', op.squeeze(ibotSoftmaxCenterTeacher(op.unsqueeze(t, [0]), ctr, teacherTemp), [0]));
      const targets = ibotSinkhornKnoppTeacher(t, teacherTemp, nMaskedPatches, { nIterations: iterations });
      g.output('sinkhorn', targets);
      const loss = ibotPatchLossMasked(s, targets, { masksWeight: w, studentMasksFlat: m, nMaskedPatches: nMasked, studentTemp });
      g.output('grad_student', gradients(g, loss, [s]).get(s.name)!);
      g.output('loss', loss);

      const expected = await readExpected(f, ['softmax_center', 'sinkhorn', 'loss', 'grad_student']);
      const feeds = {
        student_masked: student,
        teacher_masked: teacher,
        center,
        masks_weight: Tensor.float32(weights, [nMasked]),
        masks,
        n_masked_patches: Tensor.float32([nMasked], []),
      };
      const result = await runAndCompare(c, g, feeds, expected);
      if (!f.has('expected.masks_weight')) return [result];
      // masks_weight is host bookkeeping (collate), checked here against the official values as well.
      const mw = compareExpected('masks_weight', Tensor.float32(weights, [nMasked]), await f.float32('expected.masks_weight'), c.atol ?? 1e-5, c.rtol ?? 1e-4);
      if (mw.ok) return [{ ...result, maxAbsError: Math.max(result.maxAbsError, mw.maxAbsError) }];
      return [{ ...result, status: 'fail', maxAbsError: Infinity, detail: [mw.detail, result.detail].filter(Boolean).join('; ') }];
    });
  },
};
