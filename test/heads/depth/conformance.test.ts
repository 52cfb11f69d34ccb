import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { runConformance } from '../../../tools/conformance/run.js';
import { headDepthLinear } from '../../../tools/conformance/kinds/headDepthLinear.js';
import { CONFORMANCE_DIR } from '../../helpers.js';

const INDEPENDENT = process.env['DINOV2_INDEP_SUITE'] ?? '/tmp/indep-suite';

for (const [label, dir] of [['shared', CONFORMANCE_DIR], ['independent', INDEPENDENT]] as const) {
  test(`head.depth_linear cases of the ${label} suite pass`, { skip: !existsSync(`${dir}/manifest.json`) && `no suite at ${dir}` }, async () => {
    const results = await runConformance(dir, { kinds: ['head.depth_linear'], handlers: [headDepthLinear] });
    assert.ok(results.length > 0, 'no head.depth_linear cases');
    for (const r of results) {
      assert.equal(r.status, 'pass', `${r.id} [${r.format}]: ${r.detail ?? ''}`);
    }
  });
}
