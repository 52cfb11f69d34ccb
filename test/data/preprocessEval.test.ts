import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { preprocessEval } from '../../tools/conformance/kinds/preprocessEval.js';
import { readManifest } from '../../tools/conformance/manifest.js';
import type { ConformanceContext } from '../../tools/conformance/kind.js';

// Preprocessing needs no model; a context that refuses proves it is not touched.
const NO_MODELS: ConformanceContext = {
  backbone: () => Promise.reject(new Error('preprocess.eval must not load a model')),
  formats: () => [],
};

const SUITE = process.env.DINOV2_CONFORMANCE ?? '/work/shared/conformance';
const skip = !existsSync(`${SUITE}/manifest.json`) && 'no conformance suite';

test('preprocess.eval: every conformance image passes, PNGs bit-exact', { skip }, async () => {
  const manifest = await readManifest(SUITE);
  const cases = manifest.cases.filter((c) => c.kind === 'preprocess.eval');
  assert.ok(cases.length >= 4, `${cases.length} preprocess.eval cases`);
  for (const c of cases) {
    const results = await preprocessEval.run(manifest, c, NO_MODELS);
    assert.equal(results.length, 1);
    const r = results[0]!;
    assert.equal(r.format, '-');
    assert.equal(r.status, 'pass', `${c.id}: ${r.detail ?? ''}`);
    // PNG decoding is lossless and the resampler is bit-exact to Pillow, so nothing may differ at all.
    if (String(c.image).endsWith('.png')) assert.equal(r.maxAbsError, 0, `${c.id}: ${r.detail}`);
  }
});

test('preprocess.eval fails when the transform differs from the reference (bilinear instead of bicubic)', { skip }, async () => {
  const manifest = await readManifest(SUITE);
  const c = manifest.cases.find((k) => k.kind === 'preprocess.eval')!;
  const transform = { ...(c.transform as Record<string, unknown>), interpolation: 'bilinear (PIL)' };
  const [r] = await preprocessEval.run(manifest, { ...c, transform }, NO_MODELS);
  assert.equal(r!.status, 'fail', r!.detail);
  const [missing] = await preprocessEval.run(manifest, { ...c, image: 'images/does-not-exist.png' }, NO_MODELS);
  assert.equal(missing!.status, 'fail');
  assert.match(missing!.detail ?? '', /does-not-exist\.png/);
});
