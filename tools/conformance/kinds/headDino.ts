/**
 * Kind `head.dino`: DINOHead with `weights.*` — forward of `input.x` (`expected.y`) and the backward of
 * `input.grad_y` (`expected.grad_x`, `expected.grad.<param>`), one graph with the gradients by autodiff.
 */
import { join } from 'node:path';
import { gradients } from '../../../src/graph/autodiff.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { dinoHead } from '../../../src/models/layers/dinoHead.js';
import { storedFloat32, weightScope, type WeightStore } from '../../../src/models/weightStore.js';
import { withCaseFile } from '../caseFile.js';
import type { KindHandler } from '../kind.js';
import { readExpected, runAndCompare } from './expectedTensors.js';

/** nlayers from the config, else from the weights: mlp.0, mlp.2, … (or a single `mlp.weight`). */
function layerCount(config: Record<string, unknown> | undefined, weightKeys: readonly string[]): number {
  if (typeof config?.['nlayers'] === 'number') return config['nlayers'];
  if (weightKeys.includes('mlp.weight')) return 1;
  return weightKeys.filter((k) => /^mlp\.\d+\.weight$/.test(k)).length;
}

export const headDino: KindHandler = {
  kind: 'head.dino',
  async run(manifest, c) {
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
      const expected = await readExpected(f, f.keys('expected.').map((k) => k.slice('expected.'.length)));
      return [await runAndCompare(c, g, { x, grad_y: gradY }, expected)];
    });
  },
};
