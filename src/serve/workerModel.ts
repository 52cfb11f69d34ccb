/**
 * A backbone on its own worker thread, for the batcher (see inferenceWorker.ts): batches go in as
 * transferred buffers, CLS and mean patch tokens come back. Started from the model's source (hub name or
 * checkpoint path); models built in memory (`ModelSpec.load`) run on the main thread instead.
 */
import { startWorker as startModuleWorker } from '../data/workerPool.js';
import { Worker } from 'node:worker_threads';
import type { Tensor } from '../core/tensor.js';

export interface WorkerModelData {
  source: string | undefined;
  weights?: string;
  offline: boolean;
  name: string;
  threads?: number;
}

export type WorkerRequest = { type: 'run'; id: number; data: Float32Array; shape: number[] } | { type: 'close' };

export type WorkerReply =
  | { type: 'ready'; embedDim: number }
  | { type: 'result'; id: number; cls: Float32Array; mean: Float32Array; N: number; R: number }
  | { type: 'error'; id: number; message: string };

export interface PooledBatch {
  cls: Float32Array;
  mean: Float32Array;
  N: number;
  R: number;
  D: number;
}

function startWorker(data: WorkerModelData): Worker {
  return startModuleWorker(import.meta.url, './inferenceWorker', data);
}

export class WorkerModel {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: PooledBatch) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly embedDim: number,
  ) {
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'ready') return;
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.type === 'result') w.resolve({ cls: m.cls, mean: m.mean, N: m.N, R: m.R, D: this.embedDim });
      else w.reject(new Error(m.message));
    });
    const fail = (e: Error) => {
      this.failure = e;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    worker.on('error', (e) => fail(new Error(`inference worker failed: ${e.message}`)));
    worker.on('exit', (code) => fail(new Error(`inference worker exited (${code})`)));
  }

  static start(data: WorkerModelData): Promise<WorkerModel> {
    const worker = startWorker(data);
    return new Promise((resolve, reject) => {
      const onMessage = (m: WorkerReply) => {
        worker.off('message', onMessage);
        if (m.type === 'ready') resolve(new WorkerModel(worker, m.embedDim));
        else {
          void worker.terminate();
          reject(new Error(m.type === 'error' ? m.message : 'unexpected reply'));
        }
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  }

  /** Runs a batch [B, 3, H, W] (its buffer is moved to the worker). */
  run(x: Tensor<'float32'>): Promise<PooledBatch> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const data = x.data.byteOffset === 0 && x.data.byteLength === x.data.buffer.byteLength ? x.data : x.data.slice();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'run', id, data, shape: [...x.shape] } satisfies WorkerRequest, [data.buffer as ArrayBuffer]);
    });
  }

  async dispose(): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.worker.postMessage({ type: 'close' } satisfies WorkerRequest);
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => void this.worker.terminate().then(() => resolve()), 5000);
      this.worker.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
