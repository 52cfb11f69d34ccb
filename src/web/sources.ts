/**
 * Where weights come from in a page: a File/Blob, an ArrayBuffer, a `.safetensors` URL, a Hugging Face
 * repo id (resolved to its `model.safetensors` + `config.json`) or a hub model name (`dinov2_vits14`: its
 * `facebook/dinov2-*` repo). URLs are cached whole in the Cache API
 * (a second visit reads from disk, no network), or, with `cache: false`, read on demand with HTTP Range
 * requests (one request per tensor) where the server allows them. Progress is reported while downloading.
 */
import type { ByteSource } from '../formats/byteSource.js';
import { bytesSource } from '../formats/byteSource.js';
import { SafetensorsSource } from '../formats/safetensorsHeader.js';
import { HfSource } from '../formats/hfSource.js';
import { selectedStateDict } from '../formats/renamed.js';
import type { WeightSource } from '../formats/types.js';
import { isHubModelName } from '../models/config.js';
import { HF_ENDPOINT, hfRepo, hfResolveUrl } from '../hub/registry.js';

export type WeightsInput = string | URL | Blob | ArrayBuffer | Uint8Array;

export interface LoadProgress {
  /** What is being fetched (a URL or file name). */
  name: string;
  /** Bytes received (or read from the cache) so far. */
  loaded: number;
  /** Total bytes, when the server says. */
  total?: number;
  /** 'download': from the network; 'cache': found in the Cache API, nothing downloaded. */
  phase: 'download' | 'cache';
}

export interface WeightsOptions {
  /** Keep downloaded files in the Cache API (default true where `caches` exists). */
  cache?: boolean;
  /** Cache name (default 'dinov2-ts-weights'). */
  cacheName?: string;
  onProgress?: (p: LoadProgress) => void;
  /** Hub revision for repo ids (default 'main'). */
  revision?: string;
  /** Hub address for repo ids (default 'https://huggingface.co'). */
  hubEndpoint?: string;
  signal?: AbortSignal;
}

/** A Blob (a File the user picked) read slice by slice: nothing is loaded into memory until asked. */
export function blobSource(blob: Blob, name = (blob as File).name || '<blob>'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > blob.size) {
        throw new Error(`${name}: unexpected end of data (wanted ${length} bytes at offset ${offset}, have ${blob.size}; truncated?)`);
      }
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

function fetchFailure(url: string, e: unknown): Error {
  if ((e as Error)?.name === 'AbortError') return e as Error;
  const why = e instanceof Error ? e.message : String(e);
  return new Error(`${url}: cannot fetch (${why}); the address is unreachable, or its server does not allow cross-origin requests (CORS)`);
}

async function get(url: string, init: RequestInit = {}): Promise<Response> {
  let r: Response;
  try {
    r = await fetch(url, init);
  } catch (e) {
    throw fetchFailure(url, e);
  }
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}`);
  return r;
}

/** The whole body as a Blob, reporting progress chunk by chunk. */
async function download(url: string, r: Response, opts: WeightsOptions): Promise<Blob> {
  const header = r.headers.get('content-length');
  const total = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
  if (!r.body) return r.blob();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  const reader = r.body.getReader();
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      throw fetchFailure(url, e);
    }
    if (chunk.done) break;
    parts.push(chunk.value);
    loaded += chunk.value.length;
    opts.onProgress?.({ name: url, loaded, ...(total !== undefined ? { total } : {}), phase: 'download' });
  }
  if (total !== undefined && loaded !== total) throw new Error(`${url}: the download ended after ${loaded} of ${total} bytes`);
  return new Blob(parts as BlobPart[]);
}

function cacheAvailable(): boolean {
  return typeof caches !== 'undefined';
}

/** A URL's bytes: from the Cache API, or downloaded (and cached). */
async function cachedBlob(url: string, opts: WeightsOptions): Promise<Blob> {
  const useCache = (opts.cache ?? true) && cacheAvailable();
  const cache = useCache ? await caches.open(opts.cacheName ?? 'dinov2-ts-weights') : null;
  const hit = await cache?.match(url);
  if (hit) {
    const blob = await hit.blob();
    opts.onProgress?.({ name: url, loaded: blob.size, total: blob.size, phase: 'cache' });
    return blob;
  }
  const blob = await download(url, await get(url, opts.signal ? { signal: opts.signal } : {}), opts);
  // A cache that refuses (quota, private browsing) only costs the next visit a download.
  await cache?.put(url, new Response(blob, { headers: { 'content-length': String(blob.size) } })).catch(() => undefined);
  return blob;
}

/**
 * A URL read on demand with Range requests; a server that ignores Range (answers 200) is downloaded whole
 * instead. The first request learns the size from Content-Range.
 */
export async function urlSource(url: string, opts: WeightsOptions = {}): Promise<ByteSource> {
  const init = (range: string): RequestInit => ({ headers: { Range: range }, ...(opts.signal ? { signal: opts.signal } : {}) });
  const first = await get(url, init('bytes=0-7'));
  const total = Number(/\/(\d+)\s*$/.exec(first.headers.get('content-range') ?? '')?.[1] ?? NaN);
  if (first.status !== 206 || !Number.isFinite(total)) {
    return blobSource(await download(url, first, opts), url);
  }
  await first.arrayBuffer();
  let loaded = 0;
  return {
    name: url,
    size: total,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > total) {
        throw new Error(`${url}: unexpected end of data (wanted ${length} bytes at offset ${offset}, have ${total}; truncated?)`);
      }
      if (length === 0) return new Uint8Array(0);
      const r = await get(url, init(`bytes=${offset}-${offset + length - 1}`));
      const bytes = new Uint8Array(await r.arrayBuffer());
      if (r.status !== 206 || bytes.length !== length) throw new Error(`${url}: asked for ${length} bytes at ${offset}, the server sent ${bytes.length} (status ${r.status})`);
      loaded += length;
      opts.onProgress?.({ name: url, loaded, total, phase: 'download' });
      return bytes;
    },
  };
}

/** `owner/name` (a Hugging Face repo id), as opposed to a URL or a path. */
export function isHubRepoId(s: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(s) && !/\.safetensors$/i.test(s);
}

/** The URL of a file of a hub repo at a revision. */
export function hubFileUrl(repo: string, file: string, opts: Pick<WeightsOptions, 'revision' | 'hubEndpoint'> = {}): string {
  return hfResolveUrl({ repo, file, revision: opts.revision ?? 'main' }, opts.hubEndpoint ?? HF_ENDPOINT);
}

async function safetensorsAt(url: string, opts: WeightsOptions): Promise<SafetensorsSource> {
  const useCache = (opts.cache ?? true) && cacheAvailable();
  const bytes = useCache ? blobSource(await cachedBlob(url, opts), url) : await urlSource(url, opts);
  return SafetensorsSource.open(bytes);
}

/**
 * Opens weights as a state dict under the official key names (what models/load.ts's backboneFromSource
 * takes): a hub repo id becomes a Hugging Face model (config.json + model.safetensors), anything else is
 * read as a safetensors file with official (or wrapped) keys.
 */
export async function openWebWeights(input: WeightsInput, opts: WeightsOptions = {}): Promise<WeightSource> {
  if (input instanceof Blob) return selectedStateDict(await SafetensorsSource.open(blobSource(input)), blobSource(input).name);
  if (input instanceof ArrayBuffer || input instanceof Uint8Array) {
    return selectedStateDict(await SafetensorsSource.open(bytesSource(input, '<weights buffer>')), '<weights buffer>');
  }
  let text = String(input);
  // A hub model name ('dinov2_vits14_reg') means its transformers conversion on the Hugging Face hub.
  if (typeof input === 'string' && isHubModelName(text)) text = hfRepo(text);
  if (typeof input === 'string' && isHubRepoId(text)) {
    const configUrl = hubFileUrl(text, 'config.json', opts);
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(await (await cachedBlob(configUrl, opts)).text()) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${text}: cannot read the repo's config.json (${(e as Error).message})`);
    }
    const file = await safetensorsAt(hubFileUrl(text, 'model.safetensors', opts), opts);
    try {
      return HfSource.fromFiles(text, config, [file]);
    } catch (e) {
      await file.close();
      throw e;
    }
  }
  const url = new URL(text, (globalThis as { location?: { href: string } }).location?.href).href;
  return selectedStateDict(await safetensorsAt(url, opts), url);
}
