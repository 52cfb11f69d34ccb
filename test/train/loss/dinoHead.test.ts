import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GraphBuilder } from '../../../src/graph/builder.js';
import { dinoHead } from '../../../src/models/layers/dinoHead.js';
import { makeScope } from '../../../src/models/layers/params.js';
import { Tensor } from '../../../src/core/tensor.js';
import { checkGradients, rand } from '../../graph/autodiff/fd.js';
import * as ref from './reference.js';
import { close, runGraph } from './lossGraph.js';

const [IN, HID, BOT, OUT, N] = [6, 8, 5, 7, 3];

/** Official key → shape of a DINOHead with `nlayers` Linear layers (mlp.0/2/4…, or a bare `mlp` for 1). */
function headShapes(nlayers: number): Map<string, number[]> {
  const m = new Map<string, number[]>();
  if (nlayers === 1) {
    m.set('mlp.weight', [BOT, IN]).set('mlp.bias', [BOT]);
  } else {
    for (let i = 0; i < nlayers; i++) {
      const [o, inp] = [i === nlayers - 1 ? BOT : HID, i === 0 ? IN : HID];
      m.set(`mlp.${2 * i}.weight`, [o, inp]).set(`mlp.${2 * i}.bias`, [o]);
    }
  }
  return m.set('last_layer.weight_g', [OUT, 1]).set('last_layer.weight_v', [OUT, BOT]);
}

function headFeeds(nlayers: number): Record<string, Tensor<'float32'>> {
  const feeds: Record<string, Tensor<'float32'>> = {};
  let seed = 10;
  for (const [k, shape] of headShapes(nlayers)) feeds[k] = rand(shape, seed++, k.endsWith('weight_g') ? 0.5 : -1, k.endsWith('weight_g') ? 1.5 : 1);
  feeds['x'] = rand([N, IN], 99, -2, 2);
  return feeds;
}

/** The head with every weight a graph input (so finite differences can perturb them). */
function buildHead(g: GraphBuilder, nlayers: number) {
  const shapes = headShapes(Math.max(nlayers, 1));
  const p = makeScope((key) => (shapes.has(key) ? (g.hasValue(key) ? g.value(key) : g.input(key, 'float32', shapes.get(key)!)) : null));
  return dinoHead(g.input('x', 'float32', ['batch', IN]), p, { nlayers });
}

for (const nlayers of [1, 2, 3]) {
  test(`DINOHead with nlayers=${nlayers}: forward matches the float64 reference, gradients match finite differences`, async () => {
    const feeds = headFeeds(nlayers);
    const out = await runGraph((g) => ({ y: buildHead(g, nlayers) }), feeds);
    const mat = (k: string) => ref.toMat(feeds[k]!.data, feeds[k]!.shape[0]!, feeds[k]!.shape[1]!);
    const layers = nlayers === 1 ? [{ w: mat('mlp.weight'), b: Array.from(feeds['mlp.bias']!.data) }] : Array.from({ length: nlayers }, (_, i) => ({ w: mat(`mlp.${2 * i}.weight`), b: Array.from(feeds[`mlp.${2 * i}.bias`]!.data) }));
    const expected = ref.dinoHead(mat('x'), { mlp: layers, g: Array.from(feeds['last_layer.weight_g']!.data), v: mat('last_layer.weight_v') });
    assert.ok(close(out['y']!, ref.flat(expected), 1e-5, 1e-6));
    await checkGradients({ build: (g) => buildHead(g, nlayers), feeds, wrt: ['x', ...headShapes(nlayers).keys()] });
  });
}

test('nlayers below 1 builds the single-Linear MLP, as max(nlayers, 1) does', async () => {
  const feeds = headFeeds(1);
  const a = await runGraph((g) => ({ y: buildHead(g, 0) }), feeds);
  const b = await runGraph((g) => ({ y: buildHead(g, 1) }), feeds);
  assert.deepEqual(a['y'], b['y']);
});
