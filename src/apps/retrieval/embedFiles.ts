/**
 * Image files → unit-length CLS embeddings (final-norm CLS of the evaluation transform, L2-normalised): the
 * representation the copy detection and the curation compare with cosine similarity. Unreadable files are
 * returned as failures, in input order, and leave no row.
 */
import { embedStream } from '../embed.js';
import { l2Normalize } from '../../eval/knn.js';
import { expandInputs } from '../../data/inputs.js';
import type { Dinov2 } from '../../models/dinov2.js';

export interface EmbedFilesOptions {
  model: Dinov2;
  /** Eval-transform crop side (default 224). */
  size?: number;
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface EmbeddedFiles {
  /** The files that were embedded, in input order. */
  paths: string[];
  /** [paths.length, dim] unit rows. */
  embeddings: Float32Array;
  dim: number;
  failures: { path: string; reason: string }[];
}

/** Embeds the images under `inputs` (files, folders, globs). */
export async function embedFilesNormalized(inputs: readonly string[], opts: EmbedFilesOptions): Promise<EmbeddedFiles> {
  const { files, problems } = await expandInputs(inputs);
  const dim = opts.model.embedDim;
  const paths: string[] = [];
  const vectors: Float32Array[] = [];
  const failures = [...problems];
  let done = 0;
  for await (const e of embedStream(files, { model: opts.model, pool: 'cls', size: opts.size ?? 224, batch: opts.batch ?? 8 })) {
    if (e.ok) {
      paths.push(e.path);
      vectors.push(e.embedding.data);
    } else failures.push({ path: e.path, reason: e.reason });
    opts.onProgress?.(++done, files.length);
  }
  const raw = new Float32Array(paths.length * dim);
  vectors.forEach((v, i) => raw.set(v, i * dim));
  return { paths, embeddings: l2Normalize(raw, dim), dim, failures };
}
