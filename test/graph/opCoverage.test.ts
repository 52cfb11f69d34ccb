/** Every op graph/ops.ts emits has a gradient rule or is declared not differentiable — nothing in between. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { GRAD_RULES, NOT_DIFFERENTIABLE } from '../../src/graph/autodiff.js';
import { REPO_ROOT } from '../helpers.js';

test('each op type of graph/ops.ts is differentiable or declared not to be', async () => {
  const text = await readFile(join(REPO_ROOT, 'src', 'graph', 'ops.ts'), 'utf8');
  // Op types appear as capitalised string literals (node1('MatMul', …), unary('Erf', x), fail('Gemm', …)).
  const ops = [...new Set([...text.matchAll(/'([A-Z][A-Za-z]+)'/g)].map((m) => m[1]!))];
  assert.ok(ops.length > 40, `found only ${ops.length} op types`);
  const neither = ops.filter((o) => !(o in GRAD_RULES) && !NOT_DIFFERENTIABLE.has(o));
  const both = ops.filter((o) => o in GRAD_RULES && NOT_DIFFERENTIABLE.has(o));
  assert.deepEqual(neither, []);
  assert.deepEqual(both, []);
});

test('no module outside graph/ emits raw nodes', async () => {
  const { importGraph } = await import('../../tools/layout/importGraph.js');
  const src = join(REPO_ROOT, 'src');
  const offenders: string[] = [];
  for (const file of (await importGraph(src)).keys()) {
    if (file.startsWith('graph/')) continue;
    const text = await readFile(join(src, file), 'utf8');
    if (/\.node1?\(/.test(text)) offenders.push(file);
  }
  assert.deepEqual(offenders, []);
});
