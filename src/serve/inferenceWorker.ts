/**
 * Worker-thread side of WorkerModel: loads one backbone and runs batches for the batcher, answering each
 * image's CLS token and mean patch token. onnxruntime-node runs a session synchronously on the thread that
 * calls it, so running it here keeps the server's main thread free to read and prepare the next batch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModelByNameOrPath } from '../hub/loadModel.js';
import { meanPatch } from '../models/pooling.js';
import { Tensor } from '../core/tensor.js';
import type { WorkerModelData, WorkerReply, WorkerRequest } from './workerModel.js';

const port = parentPort!;
const data = workerData as WorkerModelData;
try {
  const model = await loadModelByNameOrPath(data.source, {
    ...(data.weights !== undefined ? { weights: data.weights } : {}),
    offline: data.offline,
    name: data.name,
    ...(data.threads !== undefined ? { threads: data.threads } : {}),
  });
  port.on('message', (msg: WorkerRequest) => {
    if (msg.type === 'close') {
      void model.dispose().then(() => port.close());
      return;
    }
    void (async () => {
      try {
        const out = await model.forwardFeatures(Tensor.float32(msg.data, msg.shape));
        const [B, N, D] = out.patchTokens.shape as [number, number, number];
        const mean = new Float32Array(B * D);
        for (let b = 0; b < B; b++) mean.set(meanPatch(out.patchTokens.data, b, N, D), b * D);
        const cls = out.clsToken.data.slice();
        const reply: WorkerReply = { type: 'result', id: msg.id, cls, mean, N, R: out.regTokens.shape[1] ?? 0 };
        port.postMessage(reply, [cls.buffer, mean.buffer]);
      } catch (e) {
        port.postMessage({ type: 'error', id: msg.id, message: (e as Error).message } satisfies WorkerReply);
      }
    })();
  });
  port.postMessage({ type: 'ready', embedDim: model.embedDim } satisfies WorkerReply);
} catch (e) {
  port.postMessage({ type: 'error', id: -1, message: (e as Error).message } satisfies WorkerReply);
}
