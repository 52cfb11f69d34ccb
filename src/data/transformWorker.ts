/** Worker-thread side of TransformPool: decodes a file and applies the pool's transform. */
import { parentPort, workerData } from 'node:worker_threads';
import { transformFile, type TransformSpec } from './transformPool.js';

const spec = workerData as TransformSpec;
parentPort!.on('message', (job: { path: string; id: number }) => {
  void transformFile(spec, job.path).then((outcome) => {
    parentPort!.postMessage({ id: job.id, ...outcome }, outcome.ok ? [outcome.data.buffer as ArrayBuffer] : []);
  });
});
