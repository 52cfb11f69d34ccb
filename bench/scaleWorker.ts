/** A queue worker for bench/scale.ts: `scaleWorker.ts <redis url> <model: tiny|dinov2_vits14> <threads>`; prints JSON lines. */
import { resolve } from 'node:path';
import { hubConfig } from '../src/models/config.js';
import { Dinov2 } from '../src/models/dinov2.js';
import { loadBackbone } from '../src/models/load.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { runWorker } from '../src/apps/scale/queue.js';
import { Tensor } from '../src/core/tensor.js';

type HubName = Parameters<typeof hubConfig>[0];
const [url, which, threads] = process.argv.slice(2);
const opts = { threads: Number(threads) };
const TINY = resolve(import.meta.dirname, '..', '..', 'shared', 'conformance', 'models', 'tiny-mlp.safetensors');
const model = which === 'tiny' ? await loadBackbone(TINY, opts) : new Dinov2(hubConfig(which as HubName), randomBackboneWeights(hubConfig(which as HubName), 0), { name: `${which} (random weights)`, ...opts });
// Warm-up outside the timing: compile the graph.
await model.forwardFeatures(Tensor.float32(new Float32Array(3 * 224 * 224), [1, 3, 224, 224]));
const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const worker = await runWorker({
  queue: url!,
  model,
  batch: 8,
  onJobDone: (job, r) => say({ event: 'done', job, written: r.written, t: performance.now() }),
});
say({ event: 'ready' });
process.on('SIGTERM', () => void worker.close().then(() => model.dispose()).then(() => process.exit(0)));
