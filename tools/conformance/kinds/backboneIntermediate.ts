/** Kind `backbone.intermediate_layers`: get_intermediate_layers(input.x, **calls[k]) for each call k. */
import { join } from 'node:path';
import { withCaseFile } from '../caseFile.js';
import { compareClose, type Comparison } from '../compare.js';
import type { KindHandler } from '../kind.js';
import { shapeAware } from './backboneForward.js';
import { caseResult } from './expectedTensors.js';

interface Call {
  n: number | number[];
  reshape?: boolean;
  return_class_token?: boolean;
  norm?: boolean;
}

export const backboneIntermediate: KindHandler = {
  kind: 'backbone.intermediate_layers',
  async run(manifest, c, ctx) {
    const model = c.model!;
    const calls = (c.calls ?? {}) as Record<string, Call>;
    return withCaseFile(join(manifest.dir, c.file), async (f) => {
      const x = await f.float32('input.x');
      const results = [];
      for (const format of ctx.formats(model)) {
        const backbone = await ctx.backbone(model, format);
        const checks: Comparison[] = [];
        for (const [name, call] of Object.entries(calls)) {
          const layers = await backbone.getIntermediateLayers(x, {
            n: call.n,
            reshape: call.reshape ?? false,
            returnClassToken: call.return_class_token ?? false,
            norm: call.norm ?? true,
          });
          const expectedCount = f.keys(`expected.${name}.`).filter((k) => k.endsWith('.patch')).length;
          if (expectedCount !== layers.length) {
            checks.push({ ok: false, maxAbsError: Infinity, firstBad: 0, detail: `${name}: ${layers.length} layers, expected ${expectedCount}` });
            continue;
          }
          for (let i = 0; i < layers.length; i++) {
            const layer = layers[i]!;
            const patch = await f.float32(`expected.${name}.${i}.patch`);
            checks.push(shapeAware(`${name}.${i}.patch`, layer.patchTokens.shape, patch.shape) ?? compareClose(`${name}.${i}.patch`, layer.patchTokens.data, patch.data, c.atol ?? 1e-4, c.rtol ?? 1e-4));
            if (f.has(`expected.${name}.${i}.cls`)) {
              const cls = await f.float32(`expected.${name}.${i}.cls`);
              if (!layer.clsToken) checks.push({ ok: false, maxAbsError: Infinity, firstBad: 0, detail: `${name}.${i}: no class token returned` });
              else checks.push(compareClose(`${name}.${i}.cls`, layer.clsToken.data, cls.data, c.atol ?? 1e-4, c.rtol ?? 1e-4));
            }
          }
        }
        results.push(caseResult(c, checks, { format }));
      }
      return results;
    });
  },
};
