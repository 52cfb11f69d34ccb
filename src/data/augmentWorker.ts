/**
 * Worker-thread side of AugmentPool: decodes an image file and cuts its multi-crops with a generator
 * seeded per job, so the crops do not depend on which worker ran them or in which order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { augmentFile, type AugmentJob, type AugmentReply } from './augmentPool.js';
import { DataAugmentationDINO, type MultiCropOptions } from './augmentations.js';

const augment = new DataAugmentationDINO(workerData as MultiCropOptions);
parentPort!.on('message', (job: AugmentJob & { id: number }) => {
  void augmentFile(augment, job).then((outcome) => {
    const reply: AugmentReply = { id: job.id, ...outcome };
    // Moved, not copied; a buffer shared by two crops is listed once.
    const buffers = outcome.ok ? [...new Set([...outcome.globalCrops, ...outcome.localCrops, ...(outcome.image ? [outcome.image.data] : [])].map((t) => t.buffer as ArrayBuffer))] : [];
    parentPort!.postMessage(reply, buffers);
  });
});
