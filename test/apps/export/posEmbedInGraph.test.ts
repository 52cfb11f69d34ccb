import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { compileGraph } from '../../../src/graph/runtime.js';
import { posEmbedMatricesInGraph } from '../../../src/apps/export/posEmbedInGraph.js';
import { makeConfig, posEmbedGrid } from '../../../src/models/config.js';
import { posEmbedInterpolation } from '../../../src/models/interpolatePosEmbed.js';
import { Tensor } from '../../../src/core/tensor.js';

/** Exactly equal values (0 and −0 count as equal: a weight of −0 is a weight of 0). */
function sameValues(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Hub settings (M = 37: plain bicubic with the 0.1 offset; registers: antialiased, no offset), other grids and the mixed cases. */
const CASES = [
  { img_size: 518, interpolate_antialias: false, interpolate_offset: 0.1 },
  { img_size: 518, interpolate_antialias: true, interpolate_offset: 0 },
  { img_size: 56, interpolate_antialias: false, interpolate_offset: 0.1 },
  { img_size: 56, interpolate_antialias: true, interpolate_offset: 0 },
  { img_size: 224, interpolate_antialias: true, interpolate_offset: 0.1 },
  { img_size: 224, interpolate_antialias: false, interpolate_offset: 0 },
];

for (const c of CASES) {
  const label = `M=${c.img_size / 14}, ${c.interpolate_antialias ? 'antialiased' : 'plain'} bicubic, offset ${c.interpolate_offset}`;
  test(`in-graph interpolation matrices equal the TypeScript ones exactly (${label})`, async () => {
    const cfg = makeConfig(c);
    const M = posEmbedGrid(cfg);
    const g = new GraphBuilder('pos');
    const { rows, cols } = posEmbedMatricesInGraph(g.input('pixel_values', 'float32', ['b', 3, 'H', 'W']), cfg);
    g.output('rows', rows);
    g.output('cols', cols);
    const graph = await compileGraph(g.build());
    // Down- and upsampling, 1 patch, the native size (the skip) and non-square neighbours of it.
    const sides = [1, 2, 3, 5, 8, 13, 16, 21, 36, 37, 38, 40, 55, 74, 80];
    for (const h of sides) {
      for (const w of [h, M, 1, 7, 24]) {
        const out = await graph.run({ pixel_values: Tensor.zeros('float32', [1, 3, h * 14, w * 14]) });
        const ref = posEmbedInterpolation(h * 14, w * 14, { patchSize: 14, grid: M, antialias: c.interpolate_antialias, offset: c.interpolate_offset });
        assert.deepEqual(out['rows']!.shape, [h, M]);
        assert.deepEqual(out['cols']!.shape, [w, M]);
        assert.ok(sameValues(out['rows']!.data as Float32Array, ref.rows), `rows ${h}×${w}`);
        assert.ok(sameValues(out['cols']!.data as Float32Array, ref.cols), `cols ${h}×${w}`);
      }
    }
    await graph.dispose();
  });
}
