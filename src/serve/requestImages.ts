/**
 * The images and fields of a request, whatever its encoding: a JSON body (images as base64, data URIs or
 * allowed URLs under `field`) or multipart/form-data (every file part is an image, in order; other parts are
 * fields). The count is checked before anything is decoded; multipart uploads count against the body limit
 * as a whole.
 */
import type { FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';
import { decodeFailure, inputBytes } from './images.js';
import type { ResolvedOptions } from './options.js';
import type { RgbImage } from '../data/image.js';
import { Tensor } from '../core/tensor.js';
import type { TransformPool, TransformSpec } from '../data/transformPool.js';

export interface RequestImages {
  images: { bytes: Uint8Array; what: string }[];
  fields: Record<string, unknown>;
}

export async function requestImages(request: FastifyRequest, opts: ResolvedOptions, field = 'input', required = true): Promise<RequestImages> {
  const max = opts.maxImages;
  if (request.isMultipart()) {
    const images: RequestImages['images'] = [];
    const fields: Record<string, unknown> = {};
    let total = 0;
    for await (const part of request.parts({ limits: { fileSize: opts.bodyLimit, files: max + 1, fields: 32, fieldSize: 1 << 20 } })) {
      if (part.type === 'file') {
        if (images.length >= max) throw new HttpError(413, `too many images: at most ${max} per request`);
        const bytes = await part.toBuffer();
        total += bytes.length;
        if (total > opts.bodyLimit) throw new HttpError(413, `request body is larger than the limit of ${opts.bodyLimit} bytes`, {}, 'payload_too_large');
        images.push({ bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), what: part.filename ? `${field}[${images.length}] (${part.filename})` : `${field}[${images.length}]` });
      } else {
        fields[part.fieldname] = part.value;
      }
    }
    if (required && images.length === 0) throw new HttpError(400, `no image: send at least one file part`);
    return { images, fields };
  }
  const body = (request.body ?? {}) as Record<string, unknown>;
  if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'the body must be a JSON object');
  const raw = body[field];
  if (raw === undefined) {
    if (required) throw new HttpError(400, `body must have '${field}': an image (base64, data URI or URL) or a list of them`);
    return { images: [], fields: body };
  }
  const list = Array.isArray(raw) ? raw : [raw];
  if (required && list.length === 0) throw new HttpError(400, `'${field}' is empty`);
  if (list.length > max) throw new HttpError(413, `too many images: ${list.length} given, at most ${max} per request`);
  const rules = { allowUrls: opts.allowUrls, fetch: { maxBytes: opts.bodyLimit, timeoutMs: 10_000, lookupHost: opts.lookupHost } };
  const images = await Promise.all(list.map(async (item, i) => ({ bytes: await inputBytes(item, `${field}[${i}]`, rules), what: `${field}[${i}]` })));
  return { images, fields: body };
}

/** Decodes the request's images on the preprocessing workers (413 over the pixel limit, 422 for non-images). */
export function decodeAll(images: RequestImages['images'], maxPixels: number, prep: TransformPool): Promise<RgbImage[]> {
  return Promise.all(
    images.map(async (im) => {
      const r = await prep.decode(im.bytes, { name: im.what, maxPixels });
      if (!r.ok) throw decodeFailure(r.reason);
      return r.image;
    }),
  );
}

/**
 * Decodes and transforms the request's images on the preprocessing workers, off the thread that reads
 * requests (the same code as on this thread, so the tensors are identical).
 */
export function transformAll(images: RequestImages['images'], maxPixels: number, prep: TransformPool, spec: TransformSpec): Promise<Tensor<'float32'>[]> {
  return Promise.all(
    images.map(async (im) => {
      const r = await prep.run(im.bytes, { spec, name: im.what, maxPixels });
      if (!r.ok) throw decodeFailure(r.reason);
      return Tensor.float32(r.data, r.shape);
    }),
  );
}

/** A form or JSON field as an integer (multipart fields are strings). */
export function intField(fields: Record<string, unknown>, name: string, fallback: number | undefined, min: number, max: number): number | undefined {
  const v = fields[name];
  if (v === undefined || v === '') return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function numberField(fields: Record<string, unknown>, name: string, fallback: number | undefined, min: number, max: number): number | undefined {
  const v = fields[name];
  if (v === undefined || v === '') return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new HttpError(400, `${name} must be a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function enumField<T extends string>(fields: Record<string, unknown>, name: string, allowed: readonly T[], fallback: T): T {
  const v = fields[name];
  if (v === undefined || v === '') return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw new HttpError(400, `${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

export function stringField(fields: Record<string, unknown>, name: string): string | undefined {
  const v = fields[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw new HttpError(400, `${name} must be a string`);
  return v;
}

/** Whether the client asked for `type` (e.g. image/png) in Accept, or `format` says so. */
export function wants(request: FastifyRequest, type: string): boolean {
  const accept = request.headers.accept ?? '';
  return accept.split(',').some((a) => a.trim().split(';')[0]!.toLowerCase() === type);
}
