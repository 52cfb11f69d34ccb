/** Benchmark worker: dinov2-ts with seeded random weights (speed does not depend on the values). */
import { hubConfig, isHubModelName } from '../../src/models/config.js';
import { Dinov2 } from '../../src/models/dinov2.js';
import { randomBackboneWeights } from '../../src/models/randomWeights.js';
import { Tensor } from '../../src/core/tensor.js';
import { benchInput, parseRequest, peakRss, timeRuns, type WorkerResult } from './protocol.js';

const req = parseRequest(process.argv);
if (!isHubModelName(req.model)) throw new Error(`unknown model ${req.model}`);
const cfg = hubConfig(req.model);
const t0 = performance.now();
const model = new Dinov2(cfg, randomBackboneWeights(cfg, 0), {
  ...(req.threads ? { threads: req.threads } : {}),
  ...(req.precision === 'int8' ? { quantization: 'int8' as const } : {}),
});
const x = Tensor.float32(benchInput(req.batch, req.size), [req.batch, 3, req.size, req.size]);
await model.forwardFeatures(x);
const loadSeconds = (performance.now() - t0) / 1000;
const msPerBatch = await timeRuns(req, () => model.forwardFeatures(x));
const result: WorkerResult = { ok: true, msPerBatch, peakRssBytes: peakRss(), loadSeconds };
console.log(JSON.stringify(result));
await model.dispose();
