/**
 * Files sent as they are on disk, with HTTP Range (206 Partial Content, 416 outside the file) — what the
 * browser entry uses to read model weights on demand — and the content types a page needs (`.wasm` as
 * application/wasm, or browsers refuse to compile it streaming).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

/** Headers that make the page cross-origin isolated, so onnxruntime-web can use WASM threads. */
export function isolate(reply: FastifyReply): FastifyReply {
  return reply.header('cross-origin-opener-policy', 'same-origin').header('cross-origin-embedder-policy', 'require-corp').header('cross-origin-resource-policy', 'same-origin');
}

/** Sends `path` (whole, or the one byte range asked for); `missing` is the 404 message. */
export async function sendFile(request: FastifyRequest, reply: FastifyReply, path: string, missing: string): Promise<FastifyReply> {
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) throw new HttpError(404, missing, {}, 'not_found');
  reply.type(CONTENT_TYPES[extname(path)] ?? 'application/octet-stream').header('accept-ranges', 'bytes');
  const size = info.size;
  const header = request.headers.range;
  if (header !== undefined) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
    if (!m || (!m[1] && !m[2])) throw new HttpError(416, `unsupported Range '${header.slice(0, 60)}': one range, bytes=START-END`, { 'content-range': `bytes */${size}` });
    const start = m[1] ? Number(m[1]) : Math.max(0, size - Number(m[2]));
    const end = m[1] ? (m[2] ? Math.min(Number(m[2]), size - 1) : size - 1) : size - 1;
    if (start > end || start >= size) throw new HttpError(416, `Range ${header.slice(0, 60)} is outside the file (${size} bytes)`, { 'content-range': `bytes */${size}` });
    reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`).header('content-length', end - start + 1);
    return reply.send(request.method === 'HEAD' ? '' : createReadStream(path, { start, end }));
  }
  reply.header('content-length', size);
  return reply.send(request.method === 'HEAD' ? '' : createReadStream(path));
}
