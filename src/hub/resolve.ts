/**
 * Artifact name → local file: the cache when it holds the file (no network at all then; released DINOv2 files
 * do not change), a download into the cache otherwise.
 *
 * Offline (`HF_HUB_OFFLINE=1`, `DINOV2_OFFLINE=1` or `{offline: true}`) never touches the network and fails at
 * once, and any failed download fails the same way: the error names the URL to fetch, the path to put it
 * at, and the `--weights PATH` alternative, because on an air-gapped machine that is all the user can act on.
 *
 * Mirrors: `HF_ENDPOINT` (as huggingface_hub) replaces https://huggingface.co, and `DINOV2_BASE_URL` replaces
 * https://dl.fbaipublicfiles.com/dinov2.
 */
import { dirname } from 'node:path';
import {
  artifactCachePath,
  findCachedArtifact,
  hfBlobPath,
  isFile,
  linkHfSnapshot,
  checkEtag,
  writeHfRef,
  type Env,
} from './cache.js';
import { checkRevision, isCommitHash } from './refs.js';
import { downloadFile, DownloadError } from './download.js';
import { verifyZipArchive } from '../formats/zip.js';
import { terminalProgress, type Progress } from './progress.js';
import {
  backboneArtifact,
  hfArtifact,
  hfBackboneArtifacts,
  hfRepo,
  hfResolveUrl,
  hubArtifact,
  HF_ENDPOINT,
  TORCHHUB_BASE_URL,
  type ArtifactSource,
  type HubArtifact,
} from './registry.js';
import { HUB_MODELS } from '../models/config.js';

export interface ResolveOptions {
  /** Never use the network; default from HF_HUB_OFFLINE / DINOV2_OFFLINE. */
  offline?: boolean;
  /** Download progress; default a terminal display on stderr, `false` for none. */
  progress?: Progress | false;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
  /** Environment to read cache locations, offline flags and mirrors from (default process.env). */
  env?: Env;
}

export type UnavailableReason = 'offline' | 'network' | 'http' | 'integrity';

export class ArtifactUnavailableError extends Error {
  override readonly name = 'ArtifactUnavailableError';
  constructor(
    readonly artifact: string,
    readonly reason: UnavailableReason,
    /** The URL the file comes from. */
    readonly url: string,
    /** Where the file is looked for; putting it there makes the next run find it. */
    readonly cachePath: string,
    why: string,
    options?: { cause?: unknown },
  ) {
    super(
      [
        `cannot get ${artifact}: ${why}`,
        `  fetch:   ${url}`,
        `  save as: ${cachePath}`,
        `  or give a local file instead: ${/_head$|_head@|-imagenet1k-/.test(artifact) ? '--head FILE' : '--weights PATH'}`,
      ].join('\n'),
      options,
    );
  }
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);

/** huggingface_hub's truthy values for HF_HUB_OFFLINE, also accepted for DINOV2_OFFLINE. */
export function offlineFromEnv(env: Env = process.env): string | undefined {
  for (const k of ['DINOV2_OFFLINE', 'HF_HUB_OFFLINE']) {
    if (TRUE.has((env[k] ?? '').trim().toLowerCase())) return k;
  }
  return undefined;
}

/** The URL an artifact is fetched from, with mirrors applied. */
export function artifactUrl(a: HubArtifact, env: Env = process.env): string {
  if (a.hf) return hfResolveUrl(a.hf, env['HF_ENDPOINT'] || HF_ENDPOINT);
  const base = env['DINOV2_BASE_URL'];
  return base ? base.replace(/\/+$/, '') + a.url.slice(TORCHHUB_BASE_URL.length) : a.url;
}

function toArtifact(a: string | HubArtifact): HubArtifact {
  return typeof a === 'string' ? hubArtifact(a) : a;
}

function progressFor(a: HubArtifact, opts: ResolveOptions): Progress | undefined {
  if (opts.progress === false) return undefined;
  return opts.progress ?? terminalProgress(a.filename);
}

function unavailable(a: HubArtifact, url: string, path: string, e: unknown): ArtifactUnavailableError {
  if (e instanceof DownloadError) {
    const reason: UnavailableReason = e.code === 'network' || e.code === 'aborted' ? 'network' : e.code === 'http' ? 'http' : 'integrity';
    return new ArtifactUnavailableError(a.name, reason, url, path, e.message, { cause: e });
  }
  return new ArtifactUnavailableError(a.name, 'network', url, path, (e as Error).message, { cause: e });
}

interface HfMetadata {
  commit?: string;
  etag?: string;
  size?: number;
}

/**
 * What the hub says about a file, read like huggingface_hub does: a HEAD without following redirects to the
 * CDN (their headers carry the commit, the LFS sha256 as X-Linked-Etag and the size as X-Linked-Size); relative
 * redirects (renamed repos) are followed.
 */
async function hfMetadata(url: string, dest: string, fetchImpl: typeof fetch, signal?: AbortSignal): Promise<HfMetadata> {
  let current = url;
  for (let hop = 0; hop < 10; hop++) {
    let res: Response;
    try {
      res = await fetchImpl(current, { method: 'HEAD', redirect: 'manual', headers: { 'accept-encoding': 'identity' }, signal });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new DownloadError('network', url, dest, `network error: ${(e as Error).message}${cause ? ` (${cause})` : ''}`, undefined, { cause: e });
    }
    const h = res.headers;
    const commit = h.get('x-repo-commit') ?? undefined;
    const redirect = res.status >= 300 && res.status < 400;
    if (redirect && !commit && h.get('location')) {
      current = new URL(h.get('location')!, current).href;
      continue;
    }
    if (!res.ok && !redirect) {
      throw new DownloadError('http', url, dest, `HTTP ${res.status} ${res.status === 404 ? 'not found' : res.statusText}`, res.status);
    }
    const etag = h.get('x-linked-etag') ?? h.get('etag') ?? undefined;
    const size = h.get('x-linked-size') ?? (redirect ? null : h.get('content-length'));
    // Headers name files in the cache and are what the content is checked against: refuse malformed ones.
    const header = (what: string, why: string): never => {
      throw new DownloadError('http', url, dest, `the server's ${what} ${why}`, res.status);
    };
    if (commit !== undefined && !isCommitHash(commit)) header('X-Repo-Commit', 'is not a 40-digit hex commit hash');
    let checkedEtag: string | undefined;
    if (etag) {
      try {
        checkedEtag = checkEtag(etag);
      } catch (e) {
        header('ETag', `is unusable: ${(e as Error).message}`);
      }
    }
    if (size !== null && !/^\d{1,15}$/.test(size.trim())) header('size', 'is not a non-negative integer');
    return { commit, etag: checkedEtag, size: size !== null ? Number(size) : undefined };
  }
  throw new DownloadError('http', url, dest, 'too many redirects');
}

async function downloadHf(a: HubArtifact, url: string, target: string, opts: ResolveOptions, env: Env): Promise<string> {
  const hf = a.hf!;
  const fetchImpl = opts.fetchImpl ?? fetch;
  const meta = await hfMetadata(url, target, fetchImpl, opts.signal);
  if (!meta.etag) {
    throw new DownloadError('http', url, target, 'the server sent no ETag, so the file cannot be placed in the Hugging Face cache layout');
  }
  const commit = meta.commit ?? checkRevision(hf.revision);
  const blob = hfBlobPath(hf.repo, meta.etag, env);
  if (!(await isFile(blob))) {
    // Pinning the commit keeps the content consistent with the metadata even if the branch moves meanwhile.
    const fileUrl = meta.commit ? hfResolveUrl({ ...hf, revision: meta.commit }, env['HF_ENDPOINT'] || HF_ENDPOINT) : url;
    await downloadFile(fileUrl, blob, {
      expectedSize: meta.size,
      // LFS ETags are the content's sha256; plain git files have their git blob SHA-1 there. Either is checked.
      ...(meta.etag.length === 64 ? { sha256: meta.etag } : { gitSha1: meta.etag }),
      onProgress: progressFor(a, opts),
      signal: opts.signal,
      fetchImpl,
    });
  }
  const path = await linkHfSnapshot(hf.repo, commit, hf.file, blob, env);
  await writeHfRef(hf.repo, hf.revision, commit, env);
  return path;
}

/**
 * Local path of an artifact (registry name or entry): found in the cache, or downloaded into it. Throws
 * `ArtifactUnavailableError` when it is neither cached nor obtainable.
 */
export async function resolveArtifact(artifact: string | HubArtifact, opts: ResolveOptions = {}): Promise<string> {
  const a = toArtifact(artifact);
  if (a.hf) checkRevision(a.hf.revision);
  const env = opts.env ?? process.env;
  const cached = await findCachedArtifact(a, env);
  if (cached) return cached;

  const url = artifactUrl(a, env);
  const target = await artifactCachePath(a, env);
  const offlineVar = offlineFromEnv(env);
  if (opts.offline ?? offlineVar !== undefined) {
    const why = opts.offline ? 'offline mode is on' : `${offlineVar}=${env[offlineVar!]} forbids downloads`;
    throw new ArtifactUnavailableError(a.name, 'offline', url, target, `${why} and the file is not in the cache`);
  }
  try {
    if (a.hf) return await downloadHf(a, url, target, opts, env);
    await downloadFile(url, target, {
      expectedSize: a.size,
      sha256: a.sha256,
      requireSize: true,
      // torch.hub files are zip archives: every entry's CRC is checked once, before the file takes its name.
      verify: target.endsWith('.pth') ? (path) => verifyZipArchive(path) : undefined,
      onProgress: progressFor(a, opts),
      signal: opts.signal,
      fetchImpl: opts.fetchImpl,
    });
    return target;
  } catch (e) {
    throw unavailable(a, url, target, e);
  }
}

/**
 * Backbone weights of a hub model, ready for `loadBackbone`: the `.pth` file (torchhub) or the Hugging Face
 * folder holding `config.json` and `model.safetensors` (hf).
 */
export async function resolveBackbone(
  model: string,
  opts: ResolveOptions & { source?: ArtifactSource; revision?: string } = {},
): Promise<string> {
  if ((opts.source ?? 'torchhub') === 'torchhub') return resolveArtifact(backboneArtifact(model), opts);
  const [config, weights] = hfBackboneArtifacts(model, opts.revision);
  const weightsPath = await resolveArtifact(weights!, opts);
  const folder = dirname(weightsPath);
  const configPath = await resolveArtifact(config!, opts);
  if (dirname(configPath) !== folder) {
    // Only possible when the cache holds the two files in different snapshots (copied by hand).
    throw new Error(
      `${model}: config.json (${configPath}) and model.safetensors (${weightsPath}) are in different snapshots; put both in ${folder}`,
    );
  }
  return folder;
}

/** A Hugging Face repo id, `owner/name` or `owner/name@revision`, split; null when `s` is not one. */
export function parseHfRepoId(s: string): { repo: string; revision: string } | null {
  const m = /^([A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*)(?:@([\w./-]+))?$/.exec(s);
  // A missing local checkpoint (runs/teacher.safetensors) is not a repo id to download.
  if (!m || m[1]!.includes('..') || /\.(pth|pt|bin|safetensors|onnx|json|npy|png|jpe?g)$/i.test(m[1]!)) return null;
  return { repo: m[1]!, revision: m[2] ?? 'main' };
}

/**
 * A DINOv2 model of the Hugging Face hub by repo id (`facebook/dinov2-small`, `org/name@rev`): its
 * `config.json` and `model.safetensors`, found in or downloaded into huggingface_hub's cache layout; returns
 * the snapshot folder (an HF folder `loadBackbone` reads).
 */
export async function resolveHfRepo(id: string, opts: ResolveOptions = {}): Promise<string> {
  const parsed = parseHfRepoId(id);
  if (!parsed) throw new Error(`'${id}' is not a Hugging Face repo id (owner/name or owner/name@revision)`);
  // The registry labels artifacts with a hub model; for other repos the label is the nearest one (unused).
  const model = HUB_MODELS.find((m) => hfRepo(m) === parsed.repo) ?? HUB_MODELS[0];
  const [config, weights] = ['config.json', 'model.safetensors'].map((f) => hfArtifact(model, parsed.repo, f, parsed.revision));
  const configPath = await resolveArtifact(config!, opts);
  const weightsPath = await resolveArtifact(weights!, opts);
  if (dirname(configPath) !== dirname(weightsPath)) {
    throw new Error(`${id}: config.json (${configPath}) and model.safetensors (${weightsPath}) are in different snapshots; put both in ${dirname(weightsPath)}`);
  }
  return dirname(weightsPath);
}
