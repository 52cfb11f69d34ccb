/** Dataset readers (class folders, CSV) and the metrics, against values worked out by hand. */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDataset, parseCsv } from '../../src/eval/datasets.js';
import { confusionMatrix, mostConfusedPairs, topkAccuracy } from '../../src/eval/metrics.js';
import { IMAGENET_CLASSES, shortLabel } from '../../src/heads/imagenetClasses.js';
import { withTempDir } from '../helpers.js';

test('class folders: sorted class names, images below each (recursively), hidden entries skipped', async () => {
  await withTempDir(async (dir) => {
    for (const f of ['zebra/a.jpg', 'zebra/sub/b.PNG', 'Apple/c.webp', 'apple/d.jpg', 'apple/.hidden.jpg', 'apple/notes.txt']) {
      await mkdir(join(dir, f, '..'), { recursive: true });
      await writeFile(join(dir, f), '');
    }
    const d = await loadDataset(dir);
    assert.deepEqual(d.classes, ['Apple', 'apple', 'zebra'], 'code-point order, as Python sorted()');
    assert.deepEqual(d.paths.map((p) => p.slice(dir.length + 1)), ['Apple/c.webp', 'apple/d.jpg', 'zebra/a.jpg', 'zebra/sub/b.PNG']);
    assert.deepEqual([...d.labels], [0, 1, 2, 2]);
    await assert.rejects(loadDataset(join(dir, 'zebra', 'sub')), /no class sub-folders/);
  });
});

test('CSV: header optional, quoted fields, paths relative to the CSV, labels mapped to the training classes', async () => {
  assert.deepEqual(parseCsv('a,"b, c"\r\n"say ""hi""",d\n\n'), [['a', 'b, c'], ['say "hi"', 'd']]);
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'train.csv'), 'path,label\nimgs/1.jpg,cat\n"imgs/2, copy.jpg",dog\n/abs/3.jpg,cat\n');
    const train = await loadDataset(join(dir, 'train.csv'));
    assert.deepEqual(train.classes, ['cat', 'dog']);
    assert.deepEqual(train.paths, [join(dir, 'imgs/1.jpg'), join(dir, 'imgs/2, copy.jpg'), '/abs/3.jpg']);
    assert.deepEqual([...train.labels], [0, 1, 0]);
    await writeFile(join(dir, 'val.csv'), 'x.jpg,dog\ny.jpg,cat\n');
    const val = await loadDataset(join(dir, 'val.csv'), { classes: train.classes });
    assert.deepEqual([...val.labels], [1, 0]);
    await writeFile(join(dir, 'bad.csv'), 'x.jpg,dog\nz.jpg,bird\n');
    await assert.rejects(loadDataset(join(dir, 'bad.csv'), { classes: train.classes }), /class 'bird' not in the training classes \(cat, dog\)/);
    await writeFile(join(dir, 'short.csv'), 'x.jpg\n');
    await assert.rejects(loadDataset(join(dir, 'short.csv')), /line 1: expected 'path,label'/);
  });
});

test('top-k accuracy and the confusion summary', () => {
  // 4 rows × 6 classes; labels 0, 1, 2, 3.
  const scores = [
    [9, 1, 1, 1, 1, 1], // label 0: top-1
    [9, 8, 1, 1, 1, 1], // label 1: 2nd → top-5 only
    [1, 2, 3, 4, 5, 6], // label 2: 4th largest → top-5
    [6, 5, 4, 3, 2, 1], // label 3: 4th largest → top-5
  ].flat();
  const acc = topkAccuracy(scores, [0, 1, 2, 3], 6);
  assert.deepEqual(acc, { top1: 0.25, top5: 1 });
  const lastOut = topkAccuracy([1, 2, 3, 4, 5, 6], [0], 6);
  assert.deepEqual(lastOut, { top1: 0, top5: 0 });
  const conf = confusionMatrix([0, 0, 1, 1, 1, 2], [0, 1, 1, 2, 2, 2], 3);
  assert.deepEqual([...conf], [1, 0, 0, 1, 1, 0, 0, 2, 1]);
  assert.deepEqual(mostConfusedPairs(conf, ['a', 'b', 'c']), [
    { trueClass: 'c', predicted: 'b', count: 2, rate: 2 / 3 },
    { trueClass: 'b', predicted: 'a', count: 1, rate: 0.5 },
  ]);
});

test('ImageNet-1k class names: 1000, in the standard order', () => {
  assert.equal(IMAGENET_CLASSES.length, 1000);
  assert.equal(IMAGENET_CLASSES[0], 'tench, Tinca tinca');
  assert.equal(IMAGENET_CLASSES[1], 'goldfish, Carassius auratus');
  assert.equal(IMAGENET_CLASSES[999], 'toilet tissue, toilet paper, bathroom tissue');
  // Well-known indices of the standard list.
  const known: [number, string][] = [[207, 'golden retriever'], [281, 'tabby'], [285, 'Egyptian cat'], [409, 'analog clock'], [504, 'coffee mug'], [817, 'sports car'], [954, 'banana']];
  for (const [i, name] of known) assert.equal(shortLabel(IMAGENET_CLASSES[i]!), name, `class ${i}`);
  assert.equal(IMAGENET_CLASSES.filter((c) => c.trim() === '' || c !== c.trim()).length, 0);
});
