/**
 * The raw-pixel k-NN baseline of a labelled pair of folders under the official protocol (cosine, T = 0.07):
 * the eval-transformed pixels as features, ImageNet-normalised (what the backbone sees) and plain [0, 1].
 *
 *   node --import tsx tools/experiments/rawPixelKnn.ts /work/wt16-data/mnist 28
 */
import { join } from 'node:path';
import { rawPixelKnn } from '../../src/apps/trainingKnn.js';

const [dataDir = '/work/wt16-data/mnist', size = '28'] = process.argv.slice(2);
for (const normalized of [true, false]) {
  const r = await rawPixelKnn({ train: join(dataDir, 'train'), val: join(dataDir, 'val'), size: Number(size), ks: [10, 20, 100, 200], normalized });
  console.log(JSON.stringify({ pixels: normalized ? 'imagenet-normalised' : '[0,1]', ...r }));
}
