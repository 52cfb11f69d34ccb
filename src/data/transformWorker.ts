/** Worker-thread side of TransformPool: decodes a file or buffer and applies the job's (or the pool's) transform. */
import { parentPort, workerData } from 'node:worker_threads';
import { transformInput, type TransformJob, type TransformSpec } from './transformPool.js';

const poolSpec = workerData as TransformSpec;
parentPort!.on('message', (job: TransformJob) => {
  const opts = { ...(job.maxPixels !== undefined ? { maxPixels: job.maxPixels } : {}), ...(job.name !== undefined ? { name: job.name } : {}) };
  void transformInput(job.spec === undefined ? poolSpec : job.spec, job.input, opts).then((outcome) => {
    const transfer = !outcome.ok ? [] : 'data' in outcome ? [outcome.data.buffer as ArrayBuffer] : [outcome.image.data.buffer as ArrayBuffer];
    parentPort!.postMessage({ id: job.id, ...outcome }, transfer);
  });
});
