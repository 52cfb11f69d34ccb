import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeImage } from '../../src/data/decode.js';
import { makeLinearHead, saveLinearHead } from '../../src/heads/classifier.js';
import { Rng } from '../../src/core/rng.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';

const IMAGES = join(CONFORMANCE_DIR, 'images');
const MODEL = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');

test('classify: an unreadable file is reported as "skipped <decode error>" and skipped, the rest in input order, exit status 1', async () => {
  await withTempDir(async (dir) => {
    const paths = (await readdir(IMAGES)).sort().map((f) => join(IMAGES, f));
    const corrupt = join(dir, 'corrupt.jpg');
    await writeFile(corrupt, (await readFile(paths[3]!)).subarray(0, 2000));
    const decodeError = await decodeImage(corrupt).then(
      () => assert.fail('the truncated file decodes'),
      (e: Error) => e.message,
    );
    const rng = new Rng(3);
    const [C, D] = [4, 48];
    const head = makeLinearHead(Float32Array.from({ length: C * D }, () => rng.normal()), new Float32Array(C), { numClasses: C, inFeatures: D }, { nLastBlocks: 1, avgpool: false, embedDim: D });
    const headPath = join(dir, 'head.safetensors');
    await saveLinearHead(headPath, head);
    const common = ['--model', MODEL, '--head', headPath, '--top', '2', '--json', '--quiet', '--batch', '2'];

    const good = [paths[0]!, paths[1]!, paths[2]!];
    const ref = await cli(['classify', ...good, ...common]);
    assert.equal(ref.code, 0, ref.stderr);
    const r = await cli(['classify', paths[0]!, corrupt, paths[1]!, paths[2]!, ...common]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`skipped ${decodeError}\n`), r.stderr);
    assert.match(r.stderr, /1 of 4 inputs could not be read/);
    type Row = { path: string; predictions: { index: number; probability: number }[] };
    const preds = JSON.parse(r.stdout) as Row[];
    const want = JSON.parse(ref.stdout) as Row[];
    assert.deepEqual(preds.map((p) => p.path), good);
    preds.forEach((p, i) => {
      assert.deepEqual(p.predictions.map((q) => q.index), want[i]!.predictions.map((q) => q.index), 'the same classes as without the unreadable file');
      p.predictions.forEach((q, j) => assert.ok(Math.abs(q.probability - want[i]!.predictions[j]!.probability) <= 1e-5));
    });
  });
});
