import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/graph/builder.js';
import { LazyGraph } from '../../src/graph/lazyGraph.js';
import * as op from '../../src/graph/ops.js';
import { Tensor } from '../../src/core/tensor.js';

function doubler() {
  const g = new GraphBuilder('double');
  const x = g.input('x', 'float32', [2]);
  g.output('y', op.add(x, x));
  return g.build();
}

test('LazyGraph compiles on first run only, retries after a failed compile, and recompiles after dispose', async () => {
  let builds = 0;
  const lazy = new LazyGraph(() => {
    builds++;
    if (builds === 1) throw new Error('first build fails');
    return doubler();
  });
  assert.equal(builds, 0, 'nothing is built before the first run');
  const x = Tensor.float32(Float32Array.of(1, 2), [2]);
  await assert.rejects(lazy.run({ x }), /first build fails/);
  assert.deepEqual(Array.from((await lazy.run({ x }))['y']!.data as Float32Array), [2, 4]);
  await lazy.run({ x }, ['y']);
  assert.equal(builds, 2, 'a compiled graph is reused');
  await lazy.dispose();
  await lazy.run({ x });
  assert.equal(builds, 3, 'a disposed graph compiles again');
  await lazy.dispose();
});
