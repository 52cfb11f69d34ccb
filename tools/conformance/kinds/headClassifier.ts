/**
 * Kind `head.classifier`: the official linear classifier (`_LinearClassifierWrapper`) on `model` with the
 * head `weights.weight` / `weights.bias`; `layers` = 1 or 4. Input `input.x`, expected `expected.logits`.
 */
import { join } from 'node:path';
import { LinearClassifier, makeLinearHead } from '../../../src/heads/classifier.js';
import { withCaseFile } from '../caseFile.js';
import { compareClose } from '../compare.js';
import type { CaseResult, KindHandler } from '../kind.js';
import { shapeAware } from './backboneForward.js';
import { caseResult } from './expectedTensors.js';

export const headClassifier: KindHandler = {
  kind: 'head.classifier',
  async run(manifest, c, ctx) {
    const model = c.model!;
    const layers = c['layers'];
    if (layers !== 1 && layers !== 4) throw new Error(`${c.id}: 'layers' must be 1 or 4, got ${JSON.stringify(layers)}`);
    return withCaseFile(join(manifest.dir, c.file), async (f) => {
      const x = await f.float32('input.x');
      const weight = await f.float32('weights.weight');
      const bias = await f.float32('weights.bias');
      const expected = await f.float32('expected.logits');
      const [C, F] = weight.shape as [number, number];
      const head = makeLinearHead(weight.data, bias.data, { numClasses: C, inFeatures: F }, { nLastBlocks: layers, avgpool: true, source: `${c.id} weights` });
      const results: CaseResult[] = [];
      for (const format of ctx.formats(model)) {
        const classifier = new LinearClassifier(await ctx.backbone(model, format), head);
        try {
          const { logits } = await classifier.forward(x);
          const verdict = shapeAware('logits', logits.shape, expected.shape) ?? compareClose('logits', logits.data, expected.data, c.atol ?? 1e-4, c.rtol ?? 1e-4);
          results.push(caseResult(c, [verdict], { format }));
        } finally {
          await classifier.dispose();
        }
      }
      return results;
    });
  },
};
