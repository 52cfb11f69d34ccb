/**
 * Kind `head.dino`: DINOHead with `weights.*` — forward of `input.x` (`expected.y`) and the backward of
 * `input.grad_y` (`expected.grad_x`, `expected.grad.<param>`), one graph with the gradients by autodiff.
 */
import { join } from 'node:path';
import { gradients } from '../../graph/autodiff.js';
import { GraphBuilder } from '../../graph/builder.js';
import { compileGraph } from '../../graph/runtime.js';
import { dinoHead } from '../../layers/dinoHead.js';
import { storedFloat32, weightScope, type WeightStore } from '../../models/weightStore.js';
import type { Tensor } from '../../tensor.js';
import { withCaseFile } from '../caseFile.js';
import type { Comparison } from '../compare.js';
import type { KindHandler } from '../kind.js';
import { caseResult, compareExpected } from './expectedTensors.js';

/** nlayers from the config, else from the weights: mlp.0, mlp.2, … (or a single `mlp.weight`). */
function layerCount(config: Record<string, unknown> | undefined, weightKeys: readonly string[]): number {
  if (typeof config?.['nlayers'] === 'number') return config['nlayers'];
  if (weightKeys.includes('mlp.weight')) return 1;
  return weightKeys.filter((k) => /^mlp\.\d+\.weight$/.test(k)).length;
}

export const headDino: KindHandler = {
  kind: 'head.dino',
  async run(manifest, c) {
    const atol = c.atol ?? 1e-5;
    const rtol = c.rtol ?? 1e-4;
    return withCaseFile(join(manifest.dir, c.file), async (f) => {
      const store: WeightStore = new Map();
      const params: string[] = [];
      for (const full of f.keys('weights.')) {
        const key = full.slice('weights.'.length);
        const t = await f.float32(full);
        store.set(key, storedFloat32(t.shape, t.data));
        params.push(key);
      }
      const x = await f.float32('input.x');
      const gradY = await f.float32('input.grad_y');

      const g = new GraphBuilder('head_dino');
      const p = weightScope(g, store);
      const xs = g.input('x', 'float32', ['batch', x.shape[1]!]);
      const y = dinoHead(xs, p, { nlayers: layerCount(c['config'] as Record<string, unknown> | undefined, params) });
      const seed = g.input('grad_y', 'float32', y.shape);
      const grads = gradients(g, [{ value: y, grad: seed }], ['x', ...params]);
      g.output('y', y);
      g.output('grad_x', grads.get('x')!);
      params.forEach((k) => g.output(`grad.${k}`, grads.get(k)!));
      const compiled = await compileGraph(g.build());
      let out: Record<string, Tensor>;
      try {
        out = await compiled.run({ x, grad_y: gradY });
      } finally {
        await compiled.dispose();
      }

      const comparisons: Comparison[] = [];
      for (const key of f.keys('expected.')) {
        const name = key.slice('expected.'.length);
        const actual = out[name];
        if (!actual) {
          comparisons.push({ ok: false, maxAbsError: Infinity, firstBad: 0, detail: `${name}: not produced (no such parameter)` });
          continue;
        }
        comparisons.push(compareExpected(name, actual, await f.float32(key), atol, rtol));
      }
      return [caseResult(c, comparisons)];
    });
  },
};
