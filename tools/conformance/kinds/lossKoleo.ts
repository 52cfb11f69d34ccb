/** Kind `loss.koleo`: KoLeoLoss of `input.x` [n, D] (`expected.loss`) and its gradient (`expected.grad_x`). */
import { join } from 'node:path';
import { gradients } from '../../../src/graph/autodiff.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { koleoLoss } from '../../../src/train/loss/koleoLoss.js';
import { withCaseFile } from '../caseFile.js';
import type { KindHandler } from '../kind.js';
import { readExpected, runAndCompare } from './expectedTensors.js';

export const lossKoleo: KindHandler = {
  kind: 'loss.koleo',
  async run(manifest, c) {
    return withCaseFile(join(manifest.dir, c.file), async (f) => {
      const x = await f.float32('input.x');
      const g = new GraphBuilder('loss_koleo');
      const xs = g.input('x', 'float32', ['n', x.shape[1]!]);
      const loss = koleoLoss(xs);
      g.output('grad_x', gradients(g, loss, [xs]).get(xs.name)!);
      g.output('loss', loss);
      const expected = await readExpected(f, ['loss', 'grad_x']);
      return [await runAndCompare(c, g, { x }, expected)];
    });
  },
};
