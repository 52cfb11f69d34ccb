/**
 * `node --import tsx bench/indexThroughput.ts [--model tiny|dinov2_vits14|PATH] [--images 1000] [--size 224]
 *   [--batch 8] [--threads N] [--dir DIR]`
 *
 * Indexing throughput of `indexImages` (decode → eval transform → backbone → LanceDB) on generated 256×256
 * JPEGs: images/s, the time spent inside the model (summed over backbone calls), and how long decoding +
 * the eval transform take on their own (a separate pass over the same files; during indexing that work
 * overlaps the model, so the shares need not add up to 100%). Then a second, unchanged run, which must not
 * touch the backbone. `--model dinov2_vits14` uses random weights (randomBackboneWeights): the speed of a
 * ViT-S/14 without downloading it. Default: the tiny conformance model.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decodeImage } from '../src/data/decode.js';
import { embedTransform } from '../src/data/imagePipeline.js';
import { hubConfig, isHubModelName } from '../src/models/config.js';
import { Dinov2 } from '../src/models/dinov2.js';
import { loadBackbone } from '../src/models/load.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { indexImages } from '../src/apps/retrieval/indexImages.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'tiny' },
    images: { type: 'string', default: '1000' },
    size: { type: 'string', default: '224' },
    batch: { type: 'string', default: '8' },
    threads: { type: 'string' },
    dir: { type: 'string' },
  },
});
const count = Number(values.images);
const size = Number(values.size);
const batch = Number(values.batch);
const threads = values.threads ? Number(values.threads) : undefined;
const TINY = resolve(import.meta.dirname, '..', '..', 'shared', 'conformance', 'models', 'tiny-mlp.safetensors');

/** A 256×256 scene: gradient, stripes and a disc, different for every i. */
function scene(i: number): Buffer {
  const W = 256;
  const buf = Buffer.alloc(W * W * 3);
  const h = (k: number) => ((Math.sin(i * 12.9898 + k * 78.233) * 43758.5453) % 1 + 1) % 1;
  const c0 = [h(1), h(2), h(3)].map((v) => v * 255);
  const c1 = [h(4), h(5), h(6)].map((v) => v * 255);
  const period = 8 + h(7) * 40;
  const [cx, cy, r] = [h(8) * W, h(9) * W, 20 + h(10) * 60];
  for (let y = 0; y < W; y++) {
    for (let x = 0; x < W; x++) {
      const t = x / W;
      let c = c0.map((v, k) => v * (1 - t) + c1[k]! * t);
      if (Math.floor((x + y) / period) % 2 === 0) c = c.map((v) => v * 0.6);
      if ((x - cx) ** 2 + (y - cy) ** 2 < r * r) c = [255 - c[0]!, 255 - c[1]!, 255 - c[2]!];
      buf[(y * W + x) * 3] = c[0]!;
      buf[(y * W + x) * 3 + 1] = c[1]!;
      buf[(y * W + x) * 3 + 2] = c[2]!;
    }
  }
  return buf;
}

async function images(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const have = new Set(await readdir(dir));
  for (let i = 0; i < count; i++) {
    const name = `img${String(i).padStart(5, '0')}.jpg`;
    if (have.has(name)) continue;
    await writeFile(join(dir, name), await sharp(scene(i), { raw: { width: 256, height: 256, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
  }
}

async function makeModel(): Promise<Dinov2> {
  const opts = { ...(threads ? { threads } : {}) };
  if (values.model === 'tiny') return loadBackbone(TINY, opts);
  if (isHubModelName(values.model!)) {
    const cfg = hubConfig(values.model);
    return new Dinov2(cfg, randomBackboneWeights(cfg, 0), { name: `${values.model} (random weights)`, ...opts });
  }
  return loadBackbone(values.model!, opts);
}

const work = await mkdtemp(join(tmpdir(), 'dinov2-index-bench-'));
const imageDir = values.dir ?? join(work, 'images');
try {
  const t0 = performance.now();
  await images(imageDir);
  const files = (await readdir(imageDir)).filter((f) => f.endsWith('.jpg')).sort().slice(0, count).map((f) => join(imageDir, f));
  console.log(`${files.length} images 256×256 JPEG in ${imageDir} (${((performance.now() - t0) / 1000).toFixed(1)} s to generate)`);

  const model = await makeModel();
  let modelMs = 0;
  let calls = 0;
  const forward = model.forwardFeatures.bind(model);
  model.forwardFeatures = async (x, o) => {
    const s = performance.now();
    try {
      return await forward(x, o);
    } finally {
      modelMs += performance.now() - s;
      calls++;
    }
  };
  // Warm-up: compile the graph and run one batch, outside the timing.
  const warm = embedTransform({ size }, model.patchSize)(await decodeImage(files[0]!));
  await forward(warm.reshape([1, ...warm.shape]));

  const db = join(work, 'db');
  const s1 = performance.now();
  const r1 = await indexImages(files, { db, model, size, batch });
  const wall = (performance.now() - s1) / 1000;
  const modelS = modelMs / 1000;

  const s2 = performance.now();
  const transform = embedTransform({ size }, model.patchSize);
  for (const f of files) transform(await decodeImage(f));
  const decodeS = (performance.now() - s2) / 1000;

  modelMs = 0;
  calls = 0;
  const s3 = performance.now();
  const r2 = await indexImages(files, { db, model, size, batch });
  const wall2 = (performance.now() - s3) / 1000;

  const pct = (x: number) => `${((100 * x) / wall).toFixed(0)}%`;
  console.log(`model: ${model.name}, D=${model.embedDim}, depth ${model.config.depth}; input ${size}×${size}, batch ${batch}, ${threads ?? 'default'} threads, ${availableParallelism()} CPUs`);
  console.log(`index:   ${r1.added} added in ${wall.toFixed(2)} s → ${(r1.added / wall).toFixed(1)} images/s`);
  console.log(`  inside the model:            ${modelS.toFixed(2)} s (${pct(modelS)} of the wall time)`);
  console.log(`  decode + transform, alone:   ${decodeS.toFixed(2)} s (${pct(decodeS)} of the wall time; overlaps the model while indexing)`);
  console.log(`re-index unchanged: ${r2.unchanged} unchanged in ${wall2.toFixed(2)} s, ${calls} backbone calls`);
  await model.dispose();
} finally {
  await rm(work, { recursive: true, force: true });
  if (values.dir && !existsSync(values.dir)) console.error(`note: ${values.dir} was not kept`);
}
