/**
 * The official k-NN protocol (cosine, T = 0.07, CLS token of the eval transform) run on a backbone held in
 * memory — the teacher of a training run, between iterations — so that `dinov2 train --eval-every N` shows
 * whether a run is learning. The labelled sets are listed once; each evaluation builds the backbone from the
 * weights it is given, extracts CLS features of both sets and classifies the validation set.
 *
 * Also the raw-pixel baseline under the same protocol: the eval-transformed image tensor itself as the
 * feature (what a backbone must beat to be of any use on the data).
 */
import type { BackboneConfig } from '../models/config.js';
import { Dinov2 } from '../models/dinov2.js';
import { storedFloat32, type WeightStore } from '../models/weightStore.js';
import type { RuntimeOptions } from '../graph/runtime.js';
import { decodeImage } from '../data/decode.js';
import { evalTransform } from '../data/transforms.js';
import { evalResizeFor } from '../data/imagePipeline.js';
import { loadDataset, type LabeledImages } from '../eval/datasets.js';
import { batchTensors } from '../data/transforms.js';
import type { Tensor } from '../core/tensor.js';
import { evalKnn, usableKs } from '../eval/knn.js';

export interface TrainingKnnOptions {
  /** Labelled training and validation images: folders of class sub-folders, or CSVs (as `dinov2 knn`). */
  train: string;
  val: string;
  /** Eval-transform crop (default 224; use the training's global crop size for small images). */
  size?: number;
  ks?: readonly number[];
  batch?: number;
  runtime?: RuntimeOptions;
}

/** Top-1 accuracy (%) per k, named `knn_top1_k<k>`. */
export type KnnNumbers = Record<string, number>;

export interface TrainingKnn {
  readonly train: LabeledImages;
  readonly val: LabeledImages;
  /** k-NN top-1 of the backbone `weights` (official keys) with architecture `config`. */
  evaluate(config: BackboneConfig, weights: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>): Promise<KnnNumbers>;
}

export async function trainingKnn(o: TrainingKnnOptions): Promise<TrainingKnn> {
  const train = await loadDataset(o.train);
  const val = await loadDataset(o.val, { classes: train.classes });
  const size = o.size ?? 224;
  const ks = o.ks ?? [10, 20];
  // Decoded and transformed once: every evaluation of the run sees the same tensors.
  const inputs = async (d: LabeledImages): Promise<{ x: Tensor<'float32'>[]; labels: Int32Array }> => {
    const x: Tensor<'float32'>[] = [];
    const labels: number[] = [];
    for (const [i, p] of d.paths.entries()) {
      try {
        x.push(evalTransform(await decodeImage(p), { resize: evalResizeFor(size), crop: size }));
        labels.push(d.labels[i]!);
      } catch {
        // An unreadable image is left out, as `dinov2 knn` does.
      }
    }
    if (x.length === 0) throw new Error(`${d.source}: no readable images`);
    return { x, labels: Int32Array.from(labels) };
  };
  const trainX = await inputs(train);
  const valX = await inputs(val);
  const batch = o.batch ?? 128;
  const cls = async (model: Dinov2, xs: Tensor<'float32'>[]): Promise<Float32Array> => {
    const D = model.embedDim;
    const out = new Float32Array(xs.length * D);
    for (let i = 0; i < xs.length; i += batch) {
      const f = await model.forwardFeatures(batchTensors(xs.slice(i, i + batch)));
      out.set(f.clsToken.data, i * D);
    }
    return out;
  };
  return {
    train,
    val,
    async evaluate(config, weights) {
      const store: WeightStore = new Map();
      for (const [k, w] of weights) store.set(k, storedFloat32(w.shape, w.data));
      const model = new Dinov2(config, store, { ...o.runtime, name: 'teacher backbone' });
      try {
        const r = await evalKnn(await cls(model, trainX.x), trainX.labels, await cls(model, valX.x), valX.labels, config.embed_dim, {
          ks: usableKs(ks, trainX.x.length),
          numClasses: train.classes.length,
        });
        return numbers(r.accuracy);
      } finally {
        await model.dispose();
      }
    },
  };
}

function numbers(accuracy: Map<number, { top1: number }>): KnnNumbers {
  const out: KnnNumbers = {};
  for (const [k, a] of accuracy) out[`knn_top1_k${k}`] = +(100 * a.top1).toFixed(2);
  return out;
}

/**
 * The raw-pixel k-NN baseline: each image's eval-transformed tensor ([3, size, size], ImageNet-normalised,
 * `normalized` true) or its [0, 1] pixels (false) as the feature, same k-NN protocol.
 */
export async function rawPixelKnn(o: TrainingKnnOptions & { normalized?: boolean }): Promise<KnnNumbers> {
  const train = await loadDataset(o.train);
  const val = await loadDataset(o.val, { classes: train.classes });
  const size = o.size ?? 224;
  const norm = o.normalized === false ? { mean: [0, 0, 0] as const, std: [1, 1, 1] as const } : {};
  const transform = (img: Parameters<typeof evalTransform>[0]) => evalTransform(img, { resize: evalResizeFor(size), crop: size, ...norm });
  const features = async (d: LabeledImages): Promise<{ data: Float32Array; D: number }> => {
    let D = 0;
    const rows: Float32Array[] = [];
    for (const p of d.paths) {
      const t = transform(await decodeImage(p));
      D = t.size;
      rows.push(t.data as Float32Array);
    }
    const data = new Float32Array(rows.length * D);
    rows.forEach((r, i) => data.set(r, i * D));
    return { data, D };
  };
  const tr = await features(train);
  const va = await features(val);
  const r = await evalKnn(tr.data, train.labels, va.data, val.labels, tr.D, { ks: usableKs(o.ks ?? [10, 20], train.paths.length), numClasses: train.classes.length });
  return numbers(r.accuracy);
}
