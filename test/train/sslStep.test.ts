import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { trainSslStep } from '../../tools/conformance/kinds/trainSslStep.js';
import { runConformance } from '../../tools/conformance/run.js';
import { CONFORMANCE_DIR, REPO_ROOT, withTempDir } from '../helpers.js';
import { findTorchPython } from '../formats/helpers.js';

const KIND = 'train.ssl_step';

async function runKind(dir: string) {
  return runConformance(dir, { kinds: [KIND], handlers: [trainSslStep] });
}

test('train.ssl_step: the shared cases (losses, targets, every gradient, params after clip + AdamW + EMA) pass', async () => {
  const results = await runKind(CONFORMANCE_DIR);
  assert.deepEqual(
    results.map((r) => `${r.id}: ${r.status}`),
    ['train/ssl_step/tiny-mlp: pass', 'train/ssl_step/tiny-reg4: pass'],
    results.map((r) => `${r.id}: ${r.detail}`).join('\n'),
  );
});

// Extra configurations made by the official SSLMetaArch (tools/make_suite/make_ssl_step.py): separate iBOT
// head with softmax centering over two iterations, SwiGLU with registers and no LayerScale, other weights.
const officialRepo = process.env['DINOV2_REPO'] ?? '/tmp/dinov2-official';
const python = existsSync(join(officialRepo, 'dinov2', 'train', 'ssl_meta_arch.py')) ? findTorchPython() : null;

test('train.ssl_step: cases generated from the official code with other configurations pass', { skip: python ? false : 'needs torch and the official code (DINOV2_REPO)' }, async () => {
  await withTempDir(async (dir) => {
    const r = spawnSync(python!, [join(REPO_ROOT, 'tools', 'make_suite', 'make_ssl_step.py'), dir], {
      env: { ...process.env, DINOV2_REPO: officialRepo },
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const results = await runKind(dir);
    assert.equal(results.length, 2);
    for (const res of results) assert.equal(res.status, 'pass', `${res.id}: ${res.detail}`);
  });
});
