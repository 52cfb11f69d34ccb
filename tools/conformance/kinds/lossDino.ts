/**
 * Kind `loss.dino`: on teacher logits `input.teacher` and center `input.center` — the softmax-centered
 * teacher (`teacher_temp`), the center after update_center (`center_momentum`), Sinkhorn-Knopp targets
 * (`sinkhorn_iterations`); then the DINO loss of `input.student`.chunk(chunks) against the Sinkhorn
 * targets .chunk(chunks), and its gradient w.r.t. the student logits (`student_temp`).
 */
import { join } from 'node:path';
import { gradients } from '../../../src/graph/autodiff.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { chunk } from '../../../src/train/loss/chunk.js';
import { dinoLoss, sinkhornKnoppTeacher, softmaxCenterTeacher, updateCenter } from '../../../src/train/loss/dinoClsTokenLoss.js';
import { withCaseFile } from '../caseFile.js';
import type { KindHandler } from '../kind.js';
import { param, readExpected, runAndCompare } from './expectedTensors.js';

export const lossDino: KindHandler = {
  kind: 'loss.dino',
  async run(manifest, c) {
    const teacherTemp = param(c, 'teacher_temp', 0.07);
    const studentTemp = param(c, 'student_temp', 0.1);
    const momentum = param(c, 'center_momentum', 0.9);
    const iterations = param(c, 'sinkhorn_iterations', 3);
    const chunks = param(c, 'chunks', 1);
    return withCaseFile(join(manifest.dir, c.file), async (f) => {
      const student = await f.float32('input.student');
      const teacher = await f.float32('input.teacher');
      const center = await f.float32('input.center');
      const g = new GraphBuilder('loss_dino');
      // Chunking needs the row count, so the case's sizes are fixed in this graph.
      const s = g.input('student', 'float32', student.shape);
      const t = g.input('teacher', 'float32', teacher.shape);
      const ctr = g.input('center', 'float32', center.shape);
      g.output('softmax_center', softmaxCenterTeacher(t, ctr, teacherTemp));
      g.output('center_after_update', updateCenter(ctr, t, momentum));
      const targets = sinkhornKnoppTeacher(t, teacherTemp, { nIterations: iterations });
      g.output('sinkhorn', targets);
      const loss = dinoLoss(chunk(s, chunks), chunk(targets, chunks), studentTemp);
      g.output('grad_student', gradients(g, loss, [s]).get(s.name)!);
      g.output('loss', loss);
      const expected = await readExpected(f, ['softmax_center', 'center_after_update', 'sinkhorn', 'loss', 'grad_student']);
      return [await runAndCompare(c, g, { student, teacher, center }, expected)];
    });
  },
};
