/**
 * What `serve({...})` and `dinov2 serve` accept, the defaults, and the checks made before anything listens
 * (a public bind without API keys is refused unless `insecure`).
 */
import { isIP } from 'node:net';
import { basename, extname } from 'node:path';
import type { Dinov2 } from '../models/dinov2.js';
import { isHubModelName } from '../models/config.js';

export interface ModelSpec {
  /** What requests call the model (`model` field). Requests can name only configured ids, never a path. */
  id: string;
  /** A hub name or a checkpoint path (the server operator's choice, never a client's). */
  source?: string;
  /** Take the weights from this file (as `--weights`). */
  weights?: string;
  /** Builds the model (library use: e.g. random weights for a benchmark). Overrides `source`. */
  load?: () => Promise<Dinov2>;
}

export interface HeadFiles {
  /** Linear classifier head file (from `dinov2 linear` or an official head). */
  classify?: string;
  /** Depth head (decode_head.* keys; linear or DPT), or a released head's name (`nyu-linear4`, `kitti-dpt`, …). */
  depth?: string;
  /** Linear segmentation head (decode_head.* keys), or a released head's name (`ade20k-linear`, `voc2012-ms`, …). */
  segment?: string;
  /** The model id the heads belong to (default: the first model). */
  model?: string;
}

export interface ServeOptions {
  /** Hub names, checkpoint paths, `id=path`, or specs. The first is the default model. */
  models: readonly (string | ModelSpec)[];
  host?: string;
  port?: number;
  /**
   * Bytes of model weights kept loaded, counting every float32 copy held (two per model with the inference
   * thread: the main thread's and the worker's); least recently used models are evicted above it (default: no limit).
   */
  memoryBudget?: number;
  /** Load these model ids (true: all) before answering /ready. */
  preload?: boolean | readonly string[];
  /** Largest batch one forward pass takes (default 32). */
  maxBatch?: number;
  /** How long the first request of a batch waits for others (default 5 ms). */
  maxWaitMs?: number;
  /** Images waiting for inference beyond which requests get 503 (default 512). */
  maxQueue?: number;
  /** Request body limit in bytes (default 32 MiB). */
  bodyLimit?: number;
  /** Pixels per image (decompression bombs; default 40 megapixels). */
  maxPixels?: number;
  /** Images per request (default 64). */
  maxImages?: number;
  /** Per-request deadline in ms (default 60 s): 504 after it, and queued work is dropped. */
  requestTimeoutMs?: number;
  /** Bearer tokens; also read from DINOV2_API_KEYS (comma-separated) by the CLI. */
  apiKeys?: readonly string[];
  /** Allow a non-loopback bind without API keys. */
  insecure?: boolean;
  /** Allowed CORS origins (true = any, false/undefined = none). */
  cors?: boolean | readonly string[];
  /** Allow http(s) URLs as image inputs (never private or loopback addresses). */
  allowUrls?: boolean;
  /** LanceDB folder for collections (null disables them). */
  collectionsDir?: string | null;
  heads?: HeadFiles;
  /** pino log level, or false for no logs (default 'info'). */
  logLevel?: string | false;
  /** Folder with the built web app (default: the one next to this module). */
  webappDir?: string;
  /** Folder with the `dinov2-ts/web` bundle served at /web/ for private mode (default: dist/web-bundle). */
  webBundleDir?: string;
  /** Never download hub models. */
  offline?: boolean;
  /** onnxruntime intra-op threads per model. */
  threads?: number;
  /**
   * Run the batched forward passes on a worker thread per model (default true), so the main thread keeps
   * reading and preparing requests meanwhile. The worker holds its own copy of the weights.
   */
  inferenceThread?: boolean;
  /**
   * Worker threads that decode and transform request images (default: as for `dinov2 embed`, 1–4 by the
   * cores); 0 does it on the main thread.
   */
  preprocessWorkers?: number;
  /** Test hook: resolves URL host names (default dns.lookup). */
  lookupHost?: (host: string) => Promise<string[]>;
}

export interface ResolvedOptions {
  models: ModelSpec[];
  host: string;
  port: number;
  memoryBudget: number;
  preload: string[];
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
  bodyLimit: number;
  maxPixels: number;
  maxImages: number;
  requestTimeoutMs: number;
  apiKeys: string[];
  insecure: boolean;
  cors: boolean | string[];
  allowUrls: boolean;
  collectionsDir: string | null;
  heads: HeadFiles;
  logLevel: string | false;
  webappDir: string | undefined;
  webBundleDir: string | undefined;
  offline: boolean;
  threads: number | undefined;
  lookupHost: ((host: string) => Promise<string[]>) | undefined;
  inferenceThread: boolean;
  preprocessWorkers: number | undefined;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** `dinov2_vits14`, `path/to/model.safetensors`, or `id=path`. */
export function parseModelSpec(spec: string | ModelSpec): ModelSpec {
  if (typeof spec !== 'string') {
    if (!ID.test(spec.id)) throw new Error(`model id '${spec.id}' must be 1–64 letters, digits, '.', '_' or '-'`);
    return spec;
  }
  const eq = spec.indexOf('=');
  let id: string;
  let source: string;
  if (eq > 0) {
    id = spec.slice(0, eq);
    source = spec.slice(eq + 1);
  } else {
    source = spec;
    id = isHubModelName(spec) ? spec : basename(spec, extname(spec));
  }
  if (!ID.test(id)) throw new Error(`model id '${id}' (from '${spec}') must be 1–64 letters, digits, '.', '_' or '-'; name it with id=path`);
  if (!source) throw new Error(`model '${spec}': empty source`);
  return { id, source };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const v = isIP(host);
  if (v === 4) return host.startsWith('127.');
  if (v === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

function positive(name: string, v: number | undefined, fallback: number, integer = true): number {
  const x = v ?? fallback;
  if (!(x > 0) || (integer && !Number.isInteger(x))) throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${v}`);
  return x;
}

export function resolveOptions(opts: ServeOptions): ResolvedOptions {
  const models = opts.models.map(parseModelSpec);
  if (models.length === 0) throw new Error('serve: give at least one model (--model)');
  const ids = new Set<string>();
  for (const m of models) {
    if (ids.has(m.id)) throw new Error(`serve: two models are called '${m.id}'; name them with id=path`);
    ids.add(m.id);
  }
  const host = opts.host ?? '127.0.0.1';
  const apiKeys = [...(opts.apiKeys ?? [])].map((k) => k.trim()).filter((k) => k.length > 0);
  for (const k of apiKeys) if (k.length < 8) throw new Error('serve: API keys must be at least 8 characters');
  if (!isLoopback(host) && apiKeys.length === 0 && !opts.insecure) {
    throw new Error(`serve: refusing to listen on ${host} (not loopback) without API keys; give --api-key / DINOV2_API_KEYS, or --insecure`);
  }
  const preload = opts.preload === true ? [...ids] : opts.preload ? [...opts.preload] : [];
  for (const id of preload) if (!ids.has(id)) throw new Error(`serve: --preload ${id} is not a configured model (${[...ids].join(', ')})`);
  const heads = { ...(opts.heads ?? {}) };
  if (heads.model !== undefined && !ids.has(heads.model)) throw new Error(`serve: heads belong to '${heads.model}', which is not a configured model`);
  if (opts.preprocessWorkers !== undefined && !(Number.isInteger(opts.preprocessWorkers) && opts.preprocessWorkers >= 0)) {
    throw new Error(`serve: preprocessWorkers must be a non-negative integer, got ${opts.preprocessWorkers}`);
  }
  const port = opts.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`serve: port must be 0–65535, got ${opts.port}`);
  return {
    models,
    host,
    port,
    memoryBudget: opts.memoryBudget === undefined ? Infinity : positive('memoryBudget', opts.memoryBudget, 1, false),
    preload,
    maxBatch: positive('maxBatch', opts.maxBatch, 32),
    maxWaitMs: opts.maxWaitMs === 0 ? 0 : positive('maxWaitMs', opts.maxWaitMs, 5, false),
    maxQueue: positive('maxQueue', opts.maxQueue, 512),
    bodyLimit: positive('bodyLimit', opts.bodyLimit, 32 * 2 ** 20),
    maxPixels: positive('maxPixels', opts.maxPixels, 40_000_000),
    maxImages: positive('maxImages', opts.maxImages, 64),
    requestTimeoutMs: positive('requestTimeoutMs', opts.requestTimeoutMs, 60_000),
    apiKeys,
    insecure: opts.insecure ?? false,
    cors: opts.cors === true ? true : opts.cors ? [...opts.cors] : false,
    allowUrls: opts.allowUrls ?? false,
    collectionsDir: opts.collectionsDir === undefined ? null : opts.collectionsDir,
    heads,
    logLevel: opts.logLevel ?? 'info',
    webappDir: opts.webappDir,
    webBundleDir: opts.webBundleDir,
    offline: opts.offline ?? false,
    threads: opts.threads,
    lookupHost: opts.lookupHost,
    inferenceThread: opts.inferenceThread ?? true,
    preprocessWorkers: opts.preprocessWorkers,
  };
}
