/** Kind `backbone.forward_features`: forward_features(input.x, masks=input.masks?) with every weight format. */
import { join } from 'node:path';
import { withCaseFile } from '../caseFile.js';
import { compareClose, type Comparison } from '../compare.js';
import type { KindHandler } from '../kind.js';
import { caseResult } from './expectedTensors.js';

export const backboneForward: KindHandler = {
  kind: 'backbone.forward_features',
  async run(manifest, c, ctx) {
    const model = c.model!;
    return withCaseFile(join(manifest.dir, c.file), async (f) => {
      const x = await f.float32('input.x');
      const masks = f.has('input.masks') ? await f.bool('input.masks') : undefined;
      const expected = {
        x_norm_clstoken: await f.float32('expected.x_norm_clstoken'),
        x_norm_regtokens: await f.float32('expected.x_norm_regtokens'),
        x_norm_patchtokens: await f.float32('expected.x_norm_patchtokens'),
        x_prenorm: await f.float32('expected.x_prenorm'),
      };
      const results = [];
      for (const format of ctx.formats(model)) {
        const out = await (await ctx.backbone(model, format)).forwardFeatures(x, masks ? { masks } : {});
        const actual = { x_norm_clstoken: out.clsToken, x_norm_regtokens: out.regTokens, x_norm_patchtokens: out.patchTokens, x_prenorm: out.prenorm };
        const comparisons = (Object.keys(expected) as (keyof typeof expected)[]).map((k) =>
          shapeAware(k, actual[k].shape, expected[k].shape) ?? compareClose(k, actual[k].data, expected[k].data, c.atol ?? 1e-4, c.rtol ?? 1e-4),
        );
        results.push(caseResult(c, comparisons, { format }));
      }
      return results;
    });
  },
};

/** A failed comparison when shapes differ, else null. */
export function shapeAware(name: string, actual: readonly number[], expected: readonly number[]): Comparison | null {
  if (actual.join() === expected.join()) return null;
  return { ok: false, maxAbsError: Infinity, firstBad: 0, detail: `${name}: shape [${actual.join(', ')}], expected [${expected.join(', ')}]` };
}
