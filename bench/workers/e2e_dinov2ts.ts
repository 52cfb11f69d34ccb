/**
 * End-to-end worker: `embedStream` (what `dinov2 embed` runs: decode → eval transform → batch → backbone,
 * decoding ahead of the model) over a folder of JPEGs, ViT-S/14 with seeded random weights, CLS pooling.
 * Files are decoded on embed's worker threads (default count and `overlap` unless given) unless `embedWorkers` is 0.
 * Model busy time is summed around forwardFeatures; idle = wall − model busy. Decode and transform times
 * are measured afterwards in a serial pass over the same files (CPU time spent, not wall: in the run they
 * overlap the model). Prints one JSON line.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { embedStream } from '../../src/apps/embed.js';
import { Tensor } from '../../src/core/tensor.js';
import { decodeImage } from '../../src/data/decode.js';
import { evalTransform } from '../../src/data/transforms.js';
import { hubConfig } from '../../src/models/config.js';
import { Dinov2 } from '../../src/models/dinov2.js';
import { randomBackboneWeights } from '../../src/models/randomWeights.js';
import { peakRss } from './protocol.js';

const req = JSON.parse(process.argv[process.argv.length - 1]!) as { dir: string; batch: number; precision?: 'fp32' | 'int8'; embedWorkers?: number; overlap?: 'turns' | 'concurrent'; sessionOptions?: Record<string, unknown> };
const files = readdirSync(req.dir).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => join(req.dir, f));
const cfg = hubConfig('dinov2_vits14');
const model = new Dinov2(cfg, randomBackboneWeights(cfg, 0), { ...(req.precision === 'int8' ? { quantization: 'int8' } : {}), ...(req.sessionOptions ? { sessionOptions: req.sessionOptions } : {}) });
// Compile both graph shapes (full batches and the last partial one) before timing, as a long-running user would.
await model.forwardFeatures(Tensor.float32(new Float32Array(req.batch * 3 * 224 * 224), [req.batch, 3, 224, 224]));
let modelMs = 0;
const forward = model.forwardFeatures.bind(model);
model.forwardFeatures = async (x, o) => {
  const t = performance.now();
  try {
    return await forward(x, o);
  } finally {
    modelMs += performance.now() - t;
  }
};
const t0 = performance.now();
let n = 0;
for await (const e of embedStream(files, { model, batch: req.batch, pool: 'cls', ...(req.embedWorkers !== undefined ? { workers: req.embedWorkers } : {}), ...(req.overlap ? { overlap: req.overlap } : {}) })) if (e.ok) n++;
const wallMs = performance.now() - t0;
let decodeMs = 0;
let transformMs = 0;
for (const f of files) {
  const a = performance.now();
  const img = await decodeImage(f);
  const b = performance.now();
  evalTransform(img);
  decodeMs += b - a;
  transformMs += performance.now() - b;
}
console.log(JSON.stringify({ ok: true, images: n, wallMs, modelMs, idleMs: wallMs - modelMs, decodeMs, transformMs, peakRssBytes: peakRss() }));
await model.dispose();
