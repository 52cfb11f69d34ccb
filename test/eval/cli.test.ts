/**
 * End to end on a generated dataset through the tiny conformance backbone: `knn`, `linear` (both methods),
 * the feature cache, and `classify --head` with the trained head. Classes are flat-coloured shapes on noisy
 * backgrounds; random backbone weights still separate flat colours, so top-1 must be far above chance (1/3).
 */
import assert from 'node:assert/strict';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { cli } from './captureCli.js';
import { loadLinearHead } from '../../src/heads/classifier.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { uniform } from './synthetic.js';

const MODEL = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');
const CLASSES: Record<string, [number, number, number]> = { red: [220, 40, 40], green: [40, 200, 60], blue: [50, 60, 230] };

/** A 72×64 image: grey noise background, a disc of the class colour (jittered) at a random place and size. */
async function shapeImage(path: string, colour: [number, number, number], seed: number): Promise<void> {
  const u = uniform(seed);
  const [W, H] = [72, 64];
  const cx = 20 + u() * 32;
  const cy = 18 + u() * 28;
  const r = 12 + u() * 10;
  const c = colour.map((v) => Math.max(0, Math.min(255, v + (u() - 0.5) * 40)));
  const buf = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
      const g = 100 + u() * 60;
      buf.set(inside ? c : [g, g, g], (y * W + x) * 3);
    }
  }
  await writeFile(path, await sharp(buf, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer());
}

async function makeDataset(root: string): Promise<void> {
  let seed = 1;
  for (const [split, count] of [['train', 8], ['val', 4]] as const) {
    for (const [name, colour] of Object.entries(CLASSES)) {
      await mkdir(join(root, split, name), { recursive: true });
      for (let i = 0; i < count; i++) await shapeImage(join(root, split, name, `${name}${i}.png`), colour, seed++);
    }
  }
}

test('knn, linear (sgd and logreg) and classify --head run end to end, well above chance, with a working feature cache', async () => {
  await withTempDir(async (dir) => {
    await makeDataset(dir);
    const common = ['--train', join(dir, 'train'), '--val', join(dir, 'val'), '--model', MODEL, '--size', '56', '--quiet'];
    const cache = join(dir, 'cache');

    const knn = await cli(['knn', ...common, '--k', '5,10,100', '--cache', cache, '--json']);
    assert.equal(knn.code, 0, knn.stderr);
    const k = JSON.parse(knn.stdout);
    assert.deepEqual(k.results.map((r: { k: number }) => r.k), [5, 10], 'k = 100 exceeds the 24 training images');
    assert.deepEqual(k.train.classes, ['blue', 'green', 'red']);
    assert.equal(k.val.images, 12);
    assert.deepEqual(k.features, { computed: 36, cached: 0 });
    for (const r of k.results) assert.ok(r.top1 >= 75, `k=${r.k}: top-1 ${r.top1}% (chance 33%)`);

    // Second run: every feature from the cache; changing one image's mtime recomputes exactly that one.
    await utimes(join(dir, 'val', 'red', 'red0.png'), new Date(), new Date(Date.now() + 5000));
    const again = JSON.parse((await cli(['knn', ...common, '--cache', cache, '--json'])).stdout);
    assert.deepEqual(again.features, { computed: 1, cached: 35 });
    const at10 = (rs: { k: number }[]) => rs.find((r) => r.k === 10);
    assert.deepEqual(at10(again.results), at10(k.results), 'cached features give the same accuracy');

    const text = await cli(['knn', ...common, '--cache', cache]);
    assert.match(text.stdout, /k-NN on 12 validation images, 24 training images, 3 classes; T = 0\.07/);
    assert.match(text.stdout, /^ +10 +\d+\.\d\d +\d+\.\d\d$/m);

    const headPath = join(dir, 'head.safetensors');
    const lin = await cli(['linear', ...common, '--cache', cache, '--out', headPath, '--epochs', '30', '--batch-size', '8', '--lrs', '0.01,0.1,1', '--json']);
    assert.equal(lin.code, 0, lin.stderr);
    const l = JSON.parse(lin.stdout);
    assert.equal(l.classifiers.length, 6, 'tiny-mlp has 3 blocks: only n_last_blocks = 1, with and without avgpool, × 3 lrs');
    assert.equal(l.iterations, 30 * 3);
    assert.ok(l.best.top1 >= 75, `linear probe top-1 ${l.best.top1}%`);
    const head = await loadLinearHead(headPath);
    assert.deepEqual(head.classNames, ['blue', 'green', 'red']);
    assert.equal(head.inFeatures, (l.best.avgpool ? 2 : 1) * 48);

    const cls = await cli(['classify', join(dir, 'val', 'green'), join(dir, 'val', 'blue', 'blue1.png'), '--model', MODEL, '--head', headPath, '--top', '2', '--json', '--quiet']);
    assert.equal(cls.code, 0, cls.stderr);
    const preds = JSON.parse(cls.stdout) as { path: string; predictions: { label: string; probability: number }[] }[];
    assert.equal(preds.length, 5);
    for (const p of preds) {
      assert.equal(p.predictions.length, 2);
      const [a, b] = p.predictions;
      assert.ok(a!.probability >= b!.probability && a!.probability + b!.probability <= 1 + 1e-6, 'softmax probabilities, best first');
    }
    const correct = preds.filter((p) => p.path.includes(`/${p.predictions[0]!.label}/`)).length;
    assert.ok(correct >= 4, `${correct} of 5 classified correctly`);
    const table = await cli(['classify', join(dir, 'val', 'blue', 'blue1.png'), '--model', MODEL, '--head', headPath, '--top', '1', '--quiet']);
    assert.match(table.stdout, /blue1\.png\n +1 +\d+\.\d\d% +(blue|green|red) +\([012]\)\n/);
    // The head records its backbone (#13 item 4): tiny-d4 has the same width, another depth — refused unless --force.
    const d4 = join(dirname(MODEL), 'tiny-d4.safetensors');
    const refused = await cli(['classify', join(dir, 'val', 'blue', 'blue1.png'), '--model', d4, '--head', headPath, '--quiet']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /was trained on .*, another architecture than .*tiny-d4\.safetensors: depth 4 \(head trained with 3\).*\(--force\)/);
    assert.equal((await cli(['classify', join(dir, 'val', 'blue', 'blue1.png'), '--model', d4, '--head', headPath, '--quiet', '--force'])).code, 0);

    const lr = await cli(['linear', ...common, '--cache', cache, '--out', join(dir, 'lr.safetensors'), '--method', 'logreg', '--json']);
    assert.equal(lr.code, 0, lr.stderr);
    const g = JSON.parse(lr.stdout);
    assert.equal(g.sweep.length, 45);
    assert.ok(g.top1 >= 75, `logistic regression top-1 ${g.top1}%`);
  });
});

test('eval commands explain bad datasets', async () => {
  await withTempDir(async (dir) => {
    await makeDataset(dir);
    await mkdir(join(dir, 'val', 'purple'));
    await shapeImage(join(dir, 'val', 'purple', 'p.png'), [150, 0, 150], 99);
    const r = await cli(['knn', '--train', join(dir, 'train'), '--val', join(dir, 'val'), '--model', MODEL, '--quiet']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /class 'purple' not in the training classes \(blue, green, red\)/);
  });
});
