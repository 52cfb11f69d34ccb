/**
 * A queue worker in its own process, for the kill test: `node --import tsx workerProcess.ts <redis url> <model> <id> <pause ms>`.
 * Prints one JSON line per event; pauses after every image so that a job is in flight long enough to be
 * killed in the middle (the pause is the test's, not the library's). SIGTERM stops it gracefully.
 */
import { loadBackbone } from '../../../src/models/load.js';
import { runWorker } from '../../../src/apps/scale/queue.js';

const [url, modelPath, id, pause] = process.argv.slice(2);
const model = await loadBackbone(modelPath!);
const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const worker = await runWorker({
  queue: url!,
  model,
  modelName: 'tiny',
  id: id!,
  batch: 2,
  lockDurationMs: 1500,
  stalledIntervalMs: 500,
  onProgress: async (job, p) => {
    say({ event: 'progress', worker: id, job, ...p });
    await new Promise((r) => setTimeout(r, Number(pause)));
  },
  onJobDone: (job, r) => say({ event: 'done', worker: id, job, written: r.written }),
  onJobFailed: (job, reason) => say({ event: 'failed', worker: id, job, reason }),
});
say({ event: 'ready', worker: id });
process.on('SIGTERM', () => {
  void worker.close().then(async () => {
    await model.dispose();
    process.exit(0);
  });
});
