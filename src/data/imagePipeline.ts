/**
 * Image inputs (paths, encoded bytes, decoded images) → model-ready tensors, decoded a few ahead of the consumer,
 * in input order; a failure is an item with its reason, never a throw. Shared by embedding, evaluation features
 * and classification.
 */
import { decodeImage } from './decode.js';
import type { RgbImage } from './image.js';
import { embedTransform, evalResizeFor } from './transforms.js';

export { embedTransform, evalResizeFor };
import { Tensor } from '../core/tensor.js';
import type { TransformPool, TransformSpec } from './transformPool.js';

export type ImageInput = string | Uint8Array | RgbImage;


function inputName(img: ImageInput, index: number): string {
  if (typeof img === 'string') return img;
  return img instanceof Uint8Array ? `<buffer ${index}>` : `<image ${index}>`;
}


/** An input decoded and transformed (`x`), or the reason it could not be. */
export interface PreparedImage {
  /** Position in the input list. */
  index: number;
  /** The file path, or `<buffer i>` / `<image i>` for in-memory inputs. */
  path: string;
  x?: Tensor<'float32'>;
  /** Why the input could not be decoded or transformed, without the path. */
  reason?: string;
}

/** The reason of a failed decode of `path`, without the `path: ` prefix decodeImage puts on its messages. */
export function reasonOf(e: unknown, path: string): string {
  const msg = e instanceof Error ? e.message : String(e);
  // decodeImage prefixes its messages with the name; the failure carries the path separately.
  return msg.startsWith(`${path}: `) ? msg.slice(path.length + 2) : msg;
}

async function prepare(img: ImageInput, index: number, transform: (img: RgbImage) => Tensor<'float32'>, pool?: TransformPool): Promise<PreparedImage> {
  const path = inputName(img, index);
  // Files go to the worker threads when there are some (decode + transform off the thread running the model).
  if (pool && typeof img === 'string') {
    try {
      const r = await pool.run(img);
      return r.ok ? { index, path, x: Tensor.float32(r.data, r.shape) } : { index, path, reason: reasonOf(new Error(r.reason), path) };
    } catch (e) {
      return { index, path, reason: reasonOf(e, path) };
    }
  }
  try {
    const rgb = typeof img === 'string' || img instanceof Uint8Array ? await decodeImage(img, { name: path }) : img;
    return { index, path, x: transform(rgb) };
  } catch (e) {
    return { index, path, reason: reasonOf(e, path) };
  }
}

/** Runs tasks in order with at most `depth` started ahead of the consumer; tasks must not reject. */
export async function* ahead<T>(count: number, task: (i: number) => Promise<T>, depth: number): AsyncGenerator<T> {
  const inflight: Promise<T>[] = [];
  let next = 0;
  while (next < count && inflight.length < depth) inflight.push(task(next++));
  while (inflight.length > 0) {
    const value = await inflight.shift()!;
    if (next < count) inflight.push(task(next++));
    yield value;
  }
}

/**
 * The inputs decoded and transformed, in input order, with `depth` of them prepared ahead of the consumer
 * (so that files are read and resized while it computes). A failure is an item with a `reason`, not a throw.
 */
export function prepareImages(images: readonly ImageInput[], transform: (img: RgbImage) => Tensor<'float32'>, depth: number, pool?: TransformPool): AsyncGenerator<PreparedImage> {
  return ahead(images.length, (i) => prepare(images[i]!, i, transform, pool), depth);
}

/** The transform `opts` selects, as data a worker thread can apply (see transformPool.ts). */
export function embedTransformSpec(opts: { size?: number; dense?: number }, patchSize: number): TransformSpec {
  if (opts.dense !== undefined) return { kind: 'dense', shorterSide: opts.dense, patchSize };
  const size = opts.size ?? 224;
  return { kind: 'eval', resize: evalResizeFor(size), crop: size };
}

