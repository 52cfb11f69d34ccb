/**
 * End to end: `dinov2 segment-train` learns a linear head on a generated dataset (discs and squares on a
 * textured background) through the tiny backbone, well above a constant predictor, and `dinov2 segment`
 * renders its predictions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { decodeLabelPng } from '../../src/formats/png.js';
import { ConfusionMatrix } from '../../src/eval/segmentationMetrics.js';
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli, pngSize } from '../heads/depth/helpers.js';
import { CLASSES, writeDataset } from '../heads/segmentation/helpers.js';

const MODEL = join(CONFORMANCE_DIR, 'models/tiny-mlp.safetensors');

test('segment-train beats a constant predictor by far, and segment renders the trained head', async () => {
  await withTempDir(async (dir) => {
    const samples = await writeDataset(dir, 12, 112);
    const head = join(dir, 'head.safetensors');
    const r = await cli([
      'segment-train', '--images', join(dir, 'images'), '--masks', join(dir, 'masks'), '--model', MODEL, '--out', head,
      '--val-split', '0.25', '--iters', '300', '--size', '112', '--batch', '4', '--lr', '1e-2', '--class-names', CLASSES.join(','), '--quiet',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /head\.safetensors: 3 classes, final loss [\d.]+, validation mIoU [\d.]+/);

    const file = await SafetensorsFile.open(head);
    const meta = file.metadata as Record<string, string>;
    assert.deepEqual(file.entry('decode_head.conv_seg.weight')!.shape, [3, 48, 1, 1]);
    assert.equal(file.entry('decode_head.bn.num_batches_tracked')!.dtype, 'I64');
    await file.close();
    const valNames = (JSON.parse(meta['val_images']!) as string[]).map((p) => basename(p, '.png'));
    assert.equal(valNames.length, 3);
    const val = samples.filter((s) => valNames.includes(s.name));
    const train = samples.filter((s) => !valNames.includes(s.name));

    // The constant predictor: the most frequent training class everywhere.
    const counts = [0, 0, 0];
    for (const s of train) for (const l of s.labels) if (l < 3) counts[l]!++;
    const majority = counts.indexOf(Math.max(...counts));
    const constant = new ConfusionMatrix(3);
    for (const s of val) constant.add(new Uint16Array(s.labels.length).fill(majority), s.labels);
    const constantMIoU = constant.metrics().mIoU;

    // The trained head through the whole inference path, scored at full mask resolution.
    const ours = new ConfusionMatrix(3);
    for (const s of val) {
      const out = join(dir, `${s.name}.seg.png`);
      const seg = await cli(['segment', join(dir, 'images', `${s.name}.png`), '--model', MODEL, '--head', head, '--out', out, '--overlay', join(dir, `${s.name}.overlay.png`), '--legend']);
      assert.equal(seg.code, 0, seg.stderr);
      const labels = decodeLabelPng(new Uint8Array(await readFile(out)));
      assert.deepEqual([labels.width, labels.height], [112, 112]);
      assert.deepEqual(pngSize(await readFile(join(dir, `${s.name}.overlay.png`))), [112, 112]);
      ours.add(labels.labels, s.labels);
      const legend = JSON.parse(await readFile(join(dir, `${s.name}.seg.legend.json`), 'utf8')) as { classes: { name: string; fraction: number }[] };
      assert.ok(legend.classes.every((c) => (CLASSES as readonly string[]).includes(c.name)));
      assert.ok(Math.abs(legend.classes.reduce((a, c) => a + c.fraction, 0) - 1) < 1e-9);
    }
    const m = ours.metrics();
    const reported = Number(meta['val_mIoU']);
    console.log(`constant predictor mIoU ${constantMIoU.toFixed(3)}, segment-train reported ${reported.toFixed(3)}, dinov2 segment ${m.mIoU.toFixed(3)} (IoU ${m.iou.map((v) => v.toFixed(3)).join(', ')})`);
    assert.ok(constantMIoU <= 1 / 3);
    assert.ok(reported > constantMIoU + 0.35, `reported ${reported} vs constant ${constantMIoU}`);
    assert.ok(m.mIoU > constantMIoU + 0.35, `segment ${m.mIoU} vs constant ${constantMIoU}`);
  });
});

test('segment-train refuses masks that do not fit their images or the classes', async () => {
  await withTempDir(async (dir) => {
    await writeDataset(dir, 3, 28);
    const base = ['segment-train', '--images', join(dir, 'images'), '--masks', join(dir, 'masks'), '--model', MODEL, '--out', join(dir, 'h.safetensors'), '--iters', '1', '--size', '28'];
    let r = await cli([...base, '--classes', '2']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /masks[/\\]img\d\.png: label 2 at pixel \d+,\d+ is not below the 2 classes \(255 = ignore\)/);
    r = await cli([...base, '--size', '30']);
    assert.match(r.stderr, /size 30 must be a positive multiple of the patch size 14/);
    r = await cli([...base, '--masks', join(dir, 'images', 'nothing')]);
    assert.match(r.stderr, /nothing: not a folder/);
    r = await cli([...base, '--out', join(dir, 'h.bin')]);
    assert.match(r.stderr, /use a \.safetensors or \.pth file name/);
  });
});
