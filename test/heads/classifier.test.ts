/**
 * head.classifier conformance cases (shared suite, and the independent suite when present), run through the
 * kind handler directly (registration in the conformance registry is the lead's), plus the pairing errors.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runConformance } from '../../tools/conformance/run.js';
import { headClassifier } from '../../tools/conformance/kinds/headClassifier.js';
import { bindHead, makeLinearHead, loadLinearHead, saveLinearHead } from '../../src/heads/classifier.js';
import { hubConfig } from '../../src/models/config.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { LEGACY_PICKLE, safetensorsWithHeaderLength } from '../formats/helpers.js';

const INDEP = process.env['DINOV2_INDEP_SUITE'] ?? '/tmp/indep-suite';

for (const [label, dir] of [['shared', CONFORMANCE_DIR], ['independent', INDEP]] as const) {
  test(`head.classifier cases pass (${label} suite)`, { skip: !existsSync(join(dir, 'manifest.json')) && `${dir} not present` }, async () => {
    const results = await runConformance(dir, { kinds: ['head.classifier'], handlers: [headClassifier] });
    assert.ok(results.length >= 2, `expected head.classifier cases in ${dir}`);
    for (const r of results) assert.equal(r.status, 'pass', `${r.id} [${r.format}]: ${r.detail ?? ''} (max err ${r.maxAbsError})`);
  });
}

test('a head of another width is refused with both widths and the head it was made for', () => {
  const F = 1536; // ViT-B/14 linear: 2 × 768
  const head = makeLinearHead(new Float32Array(3 * F), new Float32Array(3), { numClasses: 3, inFeatures: F }, { source: 'vitb14_linear_head.pth' });
  assert.throws(() => bindHead(head, hubConfig('dinov2_vits14')), /vitb14_linear_head\.pth: head expects 1536 input features \(ViT-B\/14 linear, D=768\) but the backbone has D=384/);
  assert.deepEqual(
    (({ nLastBlocks, avgpool }) => ({ nLastBlocks, avgpool }))(bindHead(head, hubConfig('dinov2_vitb14'))),
    { nLastBlocks: 1, avgpool: true },
  );
  const four = makeLinearHead(new Float32Array(2 * 5 * 384), new Float32Array(2), { numClasses: 2, inFeatures: 5 * 384 });
  assert.equal(bindHead(four, hubConfig('dinov2_vits14')).nLastBlocks, 4);
  assert.throws(() => bindHead(four, { embed_dim: 384, depth: 3 }), /last 4 blocks but the backbone has 3/);
});

test('a saved head keeps its layout and class names; shape errors name the file', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'head.safetensors');
    const head = makeLinearHead(Float32Array.from({ length: 2 * 48 }, (_, i) => i), Float32Array.from([1, 2]), { numClasses: 2, inFeatures: 48 }, {
      nLastBlocks: 1,
      avgpool: false,
      classNames: ['red', 'blue'],
      embedDim: 48,
    });
    await saveLinearHead(path, head, { model: 'tiny' });
    const back = await loadLinearHead(path);
    assert.deepEqual([back.nLastBlocks, back.avgpool, back.classNames, back.embedDim, back.info?.['model']], [1, false, ['red', 'blue'], 48, 'tiny']);
    assert.deepEqual([...back.weight], [...head.weight]);
    assert.throws(() => bindHead(back, { embed_dim: 64, depth: 3 }), /head\.safetensors: head expects 48 input features .* but the backbone has D=64/);
    assert.throws(() => makeLinearHead(new Float32Array(6), new Float32Array(2), { numClasses: 3, inFeatures: 2 }, { source: 'x.pth' }), /x\.pth: bias has 2 values but the weight has 3 rows/);
  });
});

test('a released-style head .pth (weight, bias) is read, its layout inferred from the width, and gives the official logits', async () => {
  const { withCaseFile } = await import('../../tools/conformance/caseFile.js');
  const { writePth } = await import('../../src/formats/pth.js');
  const { loadBackbone } = await import('../../src/models/load.js');
  const { LinearClassifier } = await import('../../src/heads/classifier.js');
  await withTempDir(async (dir) => {
    for (const layers of [1, 4] as const) {
      const path = join(dir, `tiny_linear${layers === 4 ? '4' : ''}_head.pth`);
      const { x, expected } = await withCaseFile(join(CONFORMANCE_DIR, 'cases', `tiny-d4__classifier_linear${layers}.safetensors`), async (f) => {
        const w = await f.float32('weights.weight');
        const b = await f.float32('weights.bias');
        await writePth(path, [
          { key: 'weight', dtype: 'F32', shape: w.shape, data: w.data },
          { key: 'bias', dtype: 'F32', shape: b.shape, data: b.data },
        ]);
        return { x: await f.float32('input.x'), expected: await f.float32('expected.logits') };
      });
      // The manifest's config: the head count cannot be read from the weights' shapes.
      const { readManifest } = await import('../../tools/conformance/manifest.js');
      const { makeConfig } = await import('../../src/models/config.js');
      const config = makeConfig((await readManifest(CONFORMANCE_DIR)).models['tiny-d4']!.config as never);
      const model = await loadBackbone(join(CONFORMANCE_DIR, 'models', 'tiny-d4.safetensors'), { config });
      const classifier = new LinearClassifier(model, await loadLinearHead(path));
      try {
        assert.equal(classifier.head.nLastBlocks, layers);
        const { logits, probs } = await classifier.forward(x);
        for (let i = 0; i < expected.data.length; i++) assert.ok(Math.abs(logits.data[i]! - expected.data[i]!) < 1e-4 + 1e-4 * Math.abs(expected.data[i]!));
        // Softmax by hand on the expected logits.
        const C = expected.shape[1]!;
        for (let r = 0; r < expected.shape[0]!; r++) {
          const row = Array.from(expected.data.subarray(r * C, (r + 1) * C));
          const m = Math.max(...row);
          const z = row.reduce((a, v) => a + Math.exp(v - m), 0);
          row.forEach((v, c) => assert.ok(Math.abs(probs.data[r * C + c]! - Math.exp(v - m) / z) < 1e-5));
        }
        const top = await classifier.predict(x, 3);
        assert.equal(top[0]!.length, 3);
        assert.ok(top[0]![0]!.probability >= top[0]![1]!.probability);
      } finally {
        await classifier.dispose();
        await model.dispose();
      }
    }
  });
});

test('a head file\'s format is sniffed from its content, and a file that is neither format is refused naming it', async () => {
  const { writePth } = await import('../../src/formats/pth.js');
  await withTempDir(async (dir) => {
    // A .pth under a safetensors name, and a safetensors (starting with 'PK', as a zip does) under a .pth name.
    const pth = join(dir, 'head.safetensors');
    await writePth(pth, [
      { key: 'weight', dtype: 'F32', shape: [3, 768], data: new Float32Array(3 * 768) },
      { key: 'bias', dtype: 'F32', shape: [3], data: Float32Array.from([1, 2, 3]) },
    ]);
    const st = join(dir, 'head.pth');
    await writeFile(st, safetensorsWithHeaderLength({ 'linear.weight': [2, 768], 'linear.bias': [2] }, 0x4b50));
    // F = 768 = 2 × 384: a ViT-S/14 linear head.
    for (const [path, C] of [[pth, 3], [st, 2]] as const) {
      const head = await loadLinearHead(path);
      assert.deepEqual([head.numClasses, head.inFeatures, head.nLastBlocks, head.avgpool, head.source], [C, 768, 1, true, path]);
    }
    const text = join(dir, 'notes.txt');
    await writeFile(text, 'not a head at all\n');
    await assert.rejects(loadLinearHead(text), /notes\.txt: cannot read a linear head \(.*notes\.txt: looks like a text file, not a checkpoint/);
    const legacy = join(dir, 'legacy_head.pth');
    await writeFile(legacy, LEGACY_PICKLE);
    await assert.rejects(loadLinearHead(legacy), /legacy_head\.pth: cannot read a linear head \(.*legacy torch\.save format \(a bare pickle, from torch < 1\.6\); re-save with torch >= 1\.6\)$/);
    await assert.rejects(loadLinearHead(join(dir, 'nope.pth')), /nope\.pth: cannot read a linear head \(ENOENT/);
  });
});
