/**
 * End-to-end worker: transformers.js `pipeline('image-feature-extraction')` on the Hugging Face ONNX export
 * of ViT-S/14 (local peer folder, remote models off), called with `batch` file paths at a time — the pipeline
 * reads and decodes them (RawImage, sharp), runs the processor (resize 256 bicubic, center crop 224,
 * normalize) and the model. Processor and model time are summed around the pipeline's own calls; decode is
 * the rest of the pipeline's time; idle = wall − model. Prints one JSON line.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { peakRss } from './protocol.js';

const req = JSON.parse(process.argv[process.argv.length - 1]!) as { dir: string; batch: number };
const files = readdirSync(req.dir).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => join(req.dir, f));
const folder = process.env['PEER_MODEL_DIR']!;
const { pipeline, env } = await import('@huggingface/transformers');
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = dirname(folder) + '/';
const pipe = (await pipeline('image-feature-extraction', folder.split('/').pop()!, { dtype: 'fp32', device: 'cpu' } as never)) as unknown as {
  (images: string[]): Promise<unknown>;
  processor: (x: unknown) => Promise<unknown>;
  model: (x: unknown) => Promise<unknown>;
};
await pipe(files.slice(0, req.batch));
let modelMs = 0;
let transformMs = 0;
const proc = pipe.processor;
const mdl = pipe.model;
pipe.processor = async (x) => {
  const t = performance.now();
  try {
    return await proc(x);
  } finally {
    transformMs += performance.now() - t;
  }
};
pipe.model = async (x) => {
  const t = performance.now();
  try {
    return await mdl(x);
  } finally {
    modelMs += performance.now() - t;
  }
};
const t0 = performance.now();
let n = 0;
for (let i = 0; i < files.length; i += req.batch) {
  const chunk = files.slice(i, i + req.batch);
  await pipe(chunk);
  n += chunk.length;
}
const wallMs = performance.now() - t0;
console.log(JSON.stringify({ ok: true, images: n, wallMs, modelMs, idleMs: wallMs - modelMs, decodeMs: wallMs - modelMs - transformMs, transformMs, peakRssBytes: peakRss() }));
