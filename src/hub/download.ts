/**
 * Resumable download of one file with Node's fetch.
 *
 * Bytes go to `<dest>.incomplete` (the suffix huggingface_hub uses for its blobs) and the file is renamed to
 * `dest` only once its size (and sha256, when given) is right, so `dest` is either absent or complete. A
 * leftover `.incomplete` file is continued with `Range: bytes=N-`; servers that ignore ranges (200 instead of
 * 206) make us start over. A transfer cut after some progress is resumed automatically a few times.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { formatBytes, silentProgress, type Progress } from './progress.js';

export interface DownloadOptions {
  /** Size the file must have; checked against the server's Content-Length before the transfer, and after it. */
  expectedSize?: number;
  /** Hex sha256 the content must have. */
  sha256?: string;
  /** Hex git blob SHA-1 the content must have (`sha1("blob <size>\\0" + content)`: a Hugging Face ETag of a plain file). */
  gitSha1?: string;
  /** Fail when the size is known neither from `expectedSize` nor from the server (Content-Length / Content-Range). */
  requireSize?: boolean;
  /** A check of the complete file before it takes its final name (e.g. a zip archive's CRCs); throw to reject it. */
  verify?: (partialPath: string) => Promise<void>;
  onProgress?: Progress;
  signal?: AbortSignal;
  /** Replaces the global fetch (tests, proxies). */
  fetchImpl?: typeof fetch;
  /** Extra request headers (e.g. authorization for a private mirror). */
  headers?: Record<string, string>;
  /** How many times a transfer cut midway is resumed before giving up (default 5). */
  retries?: number;
}

export interface DownloadResult {
  path: string;
  size: number;
  /** Bytes that came from an earlier, interrupted transfer (this call's or a previous one's) rather than the last. */
  resumedFrom: number;
}

export type DownloadErrorCode = 'http' | 'size' | 'sha256' | 'corrupt' | 'network' | 'aborted';

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(
    readonly code: DownloadErrorCode,
    readonly url: string,
    readonly dest: string,
    detail: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(`download of ${url} to ${dest} failed: ${detail}`, options);
  }
}

export const INCOMPLETE_SUFFIX = '.incomplete';

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

// `bytes 100-999/1000` → {start: 100, total: 1000}; `bytes */1000` (416 answers) → {total: 1000}.
function parseContentRange(v: string | null): { start?: number; total?: number } {
  const m = v?.match(/^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i);
  if (!m) return {};
  return { start: m[1] !== undefined ? Number(m[1]) : undefined, total: m[2] !== '*' ? Number(m[2]) : undefined };
}

function describeNetworkError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const cause = err.cause;
  const detail = cause?.code ?? cause?.message;
  return detail && detail !== err.message ? `${err.message} (${detail})` : err.message;
}

async function hashPrefix(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** One HTTP exchange; resolves once the body is on disk or throws. `progressed` tells retry whether to bother. */
async function attempt(
  url: string,
  dest: string,
  partial: string,
  opts: DownloadOptions,
  progress: Progress,
  state: { progressed: boolean; resumedFrom: number },
): Promise<number> {
  const doFetch = opts.fetchImpl ?? fetch;
  let offset = await fileSize(partial);
  if (opts.expectedSize !== undefined && offset > opts.expectedSize) {
    await truncate(partial, 0); // longer than the file can be: not a prefix of it
    offset = 0;
  }
  // identity: a compressed body would not match Content-Length or Range offsets.
  const headers: Record<string, string> = { 'accept-encoding': 'identity', ...opts.headers };
  if (offset > 0) headers['range'] = `bytes=${offset}-`;

  let res: Response;
  try {
    res = await doFetch(url, { headers, redirect: 'follow', signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) throw new DownloadError('aborted', url, dest, 'aborted', undefined, { cause: e });
    throw new DownloadError('network', url, dest, `network error: ${describeNetworkError(e)}`, undefined, { cause: e });
  }

  let append = false;
  let total: number | undefined;
  if (res.status === 416 && offset > 0) {
    // The partial file already covers the whole range: complete if it has exactly the file's size.
    await res.body?.cancel();
    const { total: t } = parseContentRange(res.headers.get('content-range'));
    const want = t ?? opts.expectedSize;
    if (want === offset) {
      state.resumedFrom = offset;
      return offset;
    }
    await truncate(partial, 0);
    state.progressed = true; // retry from zero
    throw new DownloadError('network', url, dest, `server refused range bytes=${offset}- (416); restarting`, 416);
  }
  if (res.status === 206) {
    const range = parseContentRange(res.headers.get('content-range'));
    if (range.start !== offset) {
      await res.body?.cancel();
      throw new DownloadError('http', url, dest, `server answered range bytes=${offset}- with '${res.headers.get('content-range')}'`, 206);
    }
    append = true;
    total = range.total;
  } else if (res.ok) {
    const len = res.headers.get('content-length');
    // With a content-encoding the length counts encoded bytes, not the file's.
    total = len !== null && !res.headers.get('content-encoding') ? Number(len) : undefined;
  } else {
    await res.body?.cancel();
    const what = res.status === 404 ? 'not found' : res.status === 401 || res.status === 403 ? 'access denied' : res.statusText || 'error';
    throw new DownloadError('http', url, dest, `HTTP ${res.status} ${what}`, res.status);
  }
  if (!res.body) throw new DownloadError('http', url, dest, `HTTP ${res.status} without a body`, res.status);

  if (total !== undefined && opts.expectedSize !== undefined && total !== opts.expectedSize) {
    await res.body.cancel();
    throw new DownloadError('size', url, dest, `server reports ${total} bytes, expected ${opts.expectedSize}`, res.status);
  }
  total ??= opts.expectedSize;
  if (total === undefined && opts.requireSize) {
    await res.body.cancel();
    throw new DownloadError('size', url, dest, 'the server sent no Content-Length, so the download cannot be checked', res.status);
  }

  const start = append ? offset : 0;
  state.resumedFrom = start;
  const hash = opts.sha256 ? createHash('sha256') : opts.gitSha1 ? createHash('sha1') : undefined;
  if (opts.gitSha1 && !opts.sha256) {
    // The git blob header needs the size before the content: only a known total allows hashing on the fly.
    if (total === undefined) {
      await res.body.cancel();
      throw new DownloadError('size', url, dest, 'the server sent no size, so the file cannot be checked against its git hash', res.status);
    }
    hash!.update(`blob ${total}\0`);
  }
  if (hash && start > 0) await hashPrefix(partial, hash);

  let received = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      received += chunk.length;
      state.progressed = true;
      hash?.update(chunk);
      progress.tick(chunk.length);
      cb(null, chunk);
    },
  });
  progress.start(total, start);
  try {
    await pipeline(
      Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>),
      counter,
      createWriteStream(partial, { flags: append ? 'a' : 'w' }),
      { signal: opts.signal },
    );
  } catch (e) {
    const have = start + received;
    if (opts.signal?.aborted) {
      throw new DownloadError('aborted', url, dest, `aborted after ${formatBytes(have)}; run again to resume`, undefined, { cause: e });
    }
    const of = total !== undefined ? ` of ${total}` : '';
    const why = `connection lost after ${have}${of} bytes: ${describeNetworkError(e)}`;
    throw new DownloadError('network', url, dest, why, undefined, { cause: e });
  } finally {
    progress.done();
  }

  const size = start + received;
  const want = total;
  if (want !== undefined && size !== want) {
    await rm(partial, { force: true });
    throw new DownloadError('size', url, dest, `received ${size} bytes, expected ${want}`, res.status);
  }
  if (hash) {
    const got = hash.digest('hex');
    const [kind, want] = opts.sha256 ? ['sha256', opts.sha256] : ['git SHA-1', opts.gitSha1!];
    if (got !== want.toLowerCase()) {
      await rm(partial, { force: true });
      throw new DownloadError('sha256', url, dest, `${kind} ${got} does not match the expected ${want}`, res.status);
    }
  }
  if (opts.verify) {
    try {
      await opts.verify(partial);
    } catch (e) {
      await rm(partial, { force: true });
      throw new DownloadError('corrupt', url, dest, `the downloaded file is corrupt: ${(e as Error).message}`, res.status, { cause: e });
    }
  }
  return size;
}

/**
 * Downloads `url` to `dest` (parent folders are created), resuming a previous partial transfer. Resolves when
 * `dest` holds the complete, checked file.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  await mkdir(dirname(dest), { recursive: true });
  const partial = dest + INCOMPLETE_SUFFIX;
  const progress = opts.onProgress ?? silentProgress;
  const retries = opts.retries ?? 5;
  for (let i = 0; ; i++) {
    const state = { progressed: false, resumedFrom: 0 };
    try {
      const size = await attempt(url, dest, partial, opts, progress, state);
      await rename(partial, dest);
      return { path: dest, size, resumedFrom: state.resumedFrom };
    } catch (e) {
      // Only a transfer that moved forward is worth resuming; a refused connection or an HTTP error is final.
      const retriable = e instanceof DownloadError && e.code === 'network' && state.progressed;
      if (!retriable || i >= retries) throw e;
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** i)));
    }
  }
}
