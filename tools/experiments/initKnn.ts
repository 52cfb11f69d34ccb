/**
 * k-NN top-1 of freshly initialised backbones (official initialisation) on the MNIST folders, for the
 * LayerScale values given: what training starts from.
 *
 *   node --import tsx tools/experiments/initKnn.ts [DATA_DIR] [embedDim] [depth] [patch] [initValues...]
 */
import { join } from 'node:path';
import { makeConfig } from '../../src/models/config.js';
import { backboneStateDictShapes } from '../../src/models/stateDictShapes.js';
import { officialSslInit } from '../../src/train/ssl/sslInit.js';
import { trainingKnn } from '../../src/apps/trainingKnn.js';

const [dataDir = '/work/wt16-data/mnist', D = '128', depth = '4', patch = '4', ...ls] = process.argv.slice(2);
const knn = await trainingKnn({ train: join(dataDir, 'train'), val: join(dataDir, 'val'), size: 28, ks: [10, 20] });
for (const initValues of (ls.length ? ls : ['1e-5', '1']).map(Number)) {
  const cfg = makeConfig({ img_size: 28, patch_size: Number(patch), embed_dim: Number(D), depth: Number(depth), num_heads: Math.max(1, Math.round(Number(D) / 64)), init_values: initValues });
  const init = officialSslInit(cfg, 0);
  const w = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [k, shape] of backboneStateDictShapes(cfg)) w.set(k, { shape, data: init(`backbone.${k}`, shape) ?? new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  console.log(JSON.stringify({ initValues, ...(await knn.evaluate(cfg, w)) }));
}
