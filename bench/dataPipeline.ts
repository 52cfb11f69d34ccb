/**
 * `node --import tsx bench/dataPipeline.ts [--points 100000] [--dim 384] [--k 1000] [--iters 10]`
 *
 * The JavaScript side of training and curation, timed: multi-crop augmentation of one image (decode +
 * 2 global 224² + 8 local 98² crops with every random step) for a 500×375 and a 4000×3000 JPEG, and
 * k-means (k-means++ seeding, then Lloyd iterations with the assignment as an onnxruntime graph) on
 * random unit vectors. Medians of a few runs; no peer runs these (PyTorch's are C/CUDA).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DataAugmentationDINO } from '../src/data/augmentations.js';
import { decodeImage } from '../src/data/decode.js';
import { kmeans } from '../src/apps/curation/kmeans.js';
import { Rng } from '../src/core/rng.js';
import { writeScene } from '../test/apps/retrieval/images.js';
import { median } from './workers/protocol.js';

const { values } = parseArgs({
  options: {
    points: { type: 'string', default: '100000' },
    dim: { type: 'string', default: '384' },
    k: { type: 'string', default: '1000' },
    iters: { type: 'string', default: '10' },
  },
});

const dir = await mkdtemp(join(tmpdir(), 'dinov2-bench-data-'));
try {
  const augment = new DataAugmentationDINO();
  const rng = new Rng(0);
  for (const [W, H] of [[500, 375], [4000, 3000]] as const) {
    const path = join(dir, `scene-${W}.jpg`);
    await writeScene(path, 3, W, H);
    const decode: number[] = [];
    const crops: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      const img = await decodeImage(path);
      const t1 = performance.now();
      augment.apply(img, rng);
      decode.push(t1 - t0);
      crops.push(performance.now() - t1);
    }
    console.log(`augmentation ${W}×${H} JPEG: decode ${median(decode).toFixed(0)} ms + 10 crops ${median(crops).toFixed(0)} ms per image (median of 5)`);
  }

  const [n, D, k, nIters] = [Number(values.points), Number(values.dim), Number(values.k), Number(values.iters)];
  const x = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let d = 0; d < D; d++) norm += (x[i * D + d] = rng.normal()) ** 2;
    for (let d = 0; d < D; d++) x[i * D + d]! /= Math.sqrt(norm);
  }
  let seeded = 0;
  const t0 = performance.now();
  await kmeans(x, n, D, k, {
    nIters,
    seed: 1,
    onProgress: (p) => {
      if (p.phase === 'seeding' && p.done === p.total) seeded = performance.now();
    },
  });
  const t1 = performance.now();
  console.log(`k-means ${n} × ${D}, k = ${k}: k-means++ seeding ${((seeded - t0) / 1000).toFixed(1)} s, ${nIters} iterations ${((t1 - seeded) / 1000).toFixed(1)} s (${((t1 - seeded) / nIters).toFixed(0)} ms each)`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
