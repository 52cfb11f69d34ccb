/**
 * Benchmark worker: transformers.js on the Hugging Face ONNX export of ViT-S/14 (the graph its users run),
 * loaded from the refilled local peer folder with remote models off.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { benchInput, parseRequest, peakRss, timeRuns, type WorkerResult } from './protocol.js';

const req = parseRequest(process.argv);
const folder = process.env['PEER_MODEL_DIR']!;
if (req.model !== 'dinov2_vits14' || req.precision !== 'fp32' || !existsSync(join(folder, 'onnx', 'model.onnx_data'))) {
  const result: WorkerResult = { ok: false, note: 'peer graph exists for ViT-S/14 fp32 only' };
  console.log(JSON.stringify(result));
  process.exit(0);
}
const { AutoModel, env, Tensor } = await import('@huggingface/transformers');
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = dirname(folder) + '/';
const t0 = performance.now();
// threads: set intra-op threads as a user would through transformers.js' session_options.
const sessionOptions = req.threads ? { session_options: { intraOpNumThreads: req.threads } } : {};
const model = await AutoModel.from_pretrained(folder.split('/').pop()!, { dtype: 'fp32', device: 'cpu', ...sessionOptions } as never);
const pixels = new Tensor('float32', benchInput(req.batch, req.size), [req.batch, 3, req.size, req.size]);
const run = () => (model as unknown as (x: unknown) => Promise<unknown>)({ pixel_values: pixels });
await run();
const loadSeconds = (performance.now() - t0) / 1000;
const msPerBatch = await timeRuns(req, run);
const result: WorkerResult = { ok: true, msPerBatch, peakRssBytes: peakRss(), loadSeconds };
console.log(JSON.stringify(result));
