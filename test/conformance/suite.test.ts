import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runConformance } from '../../tools/conformance/run.js';
import { CONFORMANCE_DIR } from '../helpers.js';

test('every implemented case kind of the conformance suite passes, with every weight format', async () => {
  const results = await runConformance(CONFORMANCE_DIR);
  const failed = results.filter((r) => r.status === 'fail');
  assert.deepEqual(failed.map((r) => `${r.id} [${r.format}]: ${r.detail}`), []);
  // The backbone kinds must run with all three formats the suite offers.
  for (const kind of ['backbone.forward_features', 'backbone.intermediate_layers']) {
    const formats = new Set(results.filter((r) => r.kind === kind && r.status === 'pass').map((r) => r.format));
    assert.deepEqual([...formats].sort(), ['hf', 'pth', 'safetensors'], kind);
  }
  assert.equal(results.filter((r) => r.kind === 'arch.shapes' && r.status === 'pass').length, 8);
});
