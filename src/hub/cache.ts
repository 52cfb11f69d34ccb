/**
 * Where downloaded files live, shared with the Python tools so nothing is fetched twice:
 *
 * - Torch-hub `.pth` files go to torch's own checkpoints folder, `$TORCH_HOME/hub/checkpoints/<filename>`
 *   (`torch.hub.get_dir()`; TORCH_HOME defaults to `$XDG_CACHE_HOME/torch`, then `~/.cache/torch`). That is
 *   where `torch.hub.load('facebookresearch/dinov2', …)` already put them for Python users, and where it will
 *   find the files we download.
 * - Hugging Face files use huggingface_hub's layout under HF_HUB_CACHE (default `$HF_HOME/hub`, HF_HOME
 *   defaulting to `$XDG_CACHE_HOME/huggingface`, then `~/.cache/huggingface`):
 *     models--facebook--dinov2-small/
 *       blobs/<etag>                          content, named by the hub's ETag (sha256 for LFS files)
 *       snapshots/<commit>/<file>             symlink → ../../blobs/<etag>
 *       refs/<revision>                       the commit the revision pointed to
 *   so `from_pretrained` finds our downloads and we find its downloads.
 */
import { lstat, mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { HubArtifact } from './registry.js';
import { checkRevision, COMMIT, isCommitHash } from './refs.js';

import { ZipReader } from '../formats/zip.js';

export type Env = Record<string, string | undefined>;

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v !== '' ? v : undefined;
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

function xdgCache(env: Env): string {
  return expandHome(nonEmpty(env['XDG_CACHE_HOME']) ?? join(homedir(), '.cache'));
}

/** huggingface_hub's cache root (`HF_HUB_CACHE`, legacy `HUGGINGFACE_HUB_CACHE`, `$HF_HOME/hub`). */
export function hfHubCacheDir(env: Env = process.env): string {
  const explicit = nonEmpty(env['HF_HUB_CACHE']) ?? nonEmpty(env['HUGGINGFACE_HUB_CACHE']);
  if (explicit) return expandHome(explicit);
  const home = nonEmpty(env['HF_HOME']);
  return join(home ? expandHome(home) : join(xdgCache(env), 'huggingface'), 'hub');
}

/** torch.hub's checkpoints folder (`torch.hub.get_dir()/checkpoints`). */
export function torchCheckpointsDir(env: Env = process.env): string {
  const home = nonEmpty(env['TORCH_HOME']);
  return join(home ? expandHome(home) : join(xdgCache(env), 'torch'), 'hub', 'checkpoints');
}

export function torchCheckpointPath(filename: string, env: Env = process.env): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(filename) || filename.endsWith('.incomplete')) throw new Error(`invalid checkpoint file name '${filename.slice(0, 80)}'`);
  return assertInside(torchCheckpointsDir(env), join(torchCheckpointsDir(env), filename));
}

/** `facebook/dinov2-small` → `<cache>/models--facebook--dinov2-small` (huggingface_hub's `repo_folder_name`). */
export function hfRepoDir(repo: string, env: Env = process.env): string {
  return assertInside(hfHubCacheDir(env), join(hfHubCacheDir(env), ['models', ...checkRepo(repo).split('/')].join('--')));
}

/** `owner/name` of a Hugging Face repo. */
export function checkRepo(repo: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/.test(repo) || repo.includes('..')) {
    throw new Error(`invalid Hugging Face repo name '${repo.slice(0, 80).replace(/[^\x20-\x7e]/g, '?')}'`);
  }
  return repo;
}

/** A path inside a repo: relative, no '.', '..' or empty components. */
export function checkRepoFile(file: string): string {
  const parts = file.split('/');
  if (file.length > 1024 || parts.some((p) => p === '' || p === '.' || p === '..' || /[\x00-\x1f\\]/.test(p))) {
    throw new Error(`invalid file path in a repo '${file.slice(0, 80).replace(/[^\x20-\x7e]/g, '?')}'`);
  }
  return file;
}

/**
 * A server's ETag as a blob name: `W/` and quotes stripped, then a hex hash (40 digits: the git blob SHA-1 of
 * a plain file; 64: the sha256 of an LFS file). Anything else is refused: it names a file and it is what
 * the content is checked against.
 */
export function checkEtag(etag: string): string {
  const e = normalizeEtag(etag.trim());
  if (!/^[0-9a-f]{40}$/.test(e) && !/^[0-9a-f]{64}$/.test(e)) {
    throw new Error(`the server's ETag is not a 40- or 64-digit lowercase hex hash ('${etag.slice(0, 80).replace(/[^\x20-\x7e]/g, '?')}')`);
  }
  return e;
}

/** Throws unless `path` lies inside `root` (both resolved; no symlink following needed: every part was checked). */
export function assertInside(root: string, path: string): string {
  const r = resolve(root);
  const p = resolve(path);
  if (p !== r && !p.startsWith(r + sep)) throw new Error(`refusing to write ${p}: outside the cache folder ${r}`);
  return path;
}

/** Whether `path` is a regular file, following symlinks (a dangling link or a folder is not). */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile(); // follows the snapshot symlink: a dangling link is not a cached file
  } catch {
    return false;
  }
}

/** The commit a revision points to: itself when it is a commit hash, else `refs/<revision>`. */
export async function hfRevisionCommit(repo: string, revision: string, env: Env = process.env): Promise<string | undefined> {
  if (COMMIT.test(revision)) return revision;
  checkRevision(revision);
  try {
    const ref = (await readFile(join(hfRepoDir(repo, env), 'refs', revision), 'utf8')).trim();
    // A ref file names a snapshot folder: only a commit hash is trusted there.
    return COMMIT.test(ref) ? ref : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The path an HF file has (or would have) in the snapshot of `revision`: `snapshots/<commit>/<file>` when the
 * commit is known, else `snapshots/<revision>/<file>`, which huggingface_hub also reads when there is no ref.
 */
export async function hfSnapshotPath(repo: string, file: string, revision: string, env: Env = process.env): Promise<string> {
  const commit = (await hfRevisionCommit(repo, revision, env)) ?? checkRevision(revision);
  const repoDir = hfRepoDir(repo, env);
  return assertInside(repoDir, join(repoDir, 'snapshots', commit, ...checkRepoFile(file).split('/')));
}

/**
 * Finds an HF file already in the cache. The snapshot the revision points to wins; when the revision is not a
 * commit and has no usable ref (files copied by hand, or a ref that moved on to a commit we lack), any snapshot
 * holding the file is accepted, the most recently written first.
 */
export async function findHfCachedFile(repo: string, file: string, revision = 'main', env: Env = process.env): Promise<string | undefined> {
  const exact = await hfSnapshotPath(repo, file, revision, env);
  if (await isFile(exact)) return exact;
  if (COMMIT.test(revision)) return undefined;
  const snapshots = join(hfRepoDir(repo, env), 'snapshots');
  let names: string[];
  try {
    names = await readdir(snapshots);
  } catch {
    return undefined;
  }
  const found: { path: string; mtime: number }[] = [];
  for (const n of names) {
    const path = join(snapshots, n, ...checkRepoFile(file).split('/'));
    if (!(await isFile(path))) continue;
    found.push({ path, mtime: (await lstat(path)).mtimeMs });
  }
  found.sort((a, b) => b.mtime - a.mtime);
  return found[0]?.path;
}

/** Where an artifact is (or will be) stored locally. HF paths depend on the cached ref, hence async. */
export async function artifactCachePath(a: HubArtifact, env: Env = process.env): Promise<string> {
  if (a.hf) return hfSnapshotPath(a.hf.repo, a.hf.file, a.hf.revision, env);
  return torchCheckpointPath(a.filename, env);
}

/** The cached file of an artifact, if any (no network). */
export async function findCachedArtifact(a: HubArtifact, env: Env = process.env): Promise<string | undefined> {
  if (a.hf) return findHfCachedFile(a.hf.repo, a.hf.file, a.hf.revision, env);
  const path = torchCheckpointPath(a.filename, env);
  if (!(await isFile(path))) return undefined;
  // A file of the wrong size (a torch download cut short outside its .partial protocol) is not trusted.
  if (a.size !== undefined && (await stat(path)).size !== a.size) return undefined;
  // Nor is a .pth whose zip directory does not hold together (truncated, overwritten): it is fetched again.
  // (The full CRC check is done once after download and per entry as tensors are read.)
  if (path.endsWith('.pth')) {
    try {
      await (await ZipReader.open(path)).close();
    } catch {
      return undefined;
    }
  }
  return path;
}

/** `blobs/<etag>` of a repo; the ETag is normalised the way huggingface_hub does (no `W/`, no quotes). */
export function hfBlobPath(repo: string, etag: string, env: Env = process.env): string {
  const repoDir = hfRepoDir(repo, env);
  return assertInside(repoDir, join(repoDir, 'blobs', checkEtag(etag)));
}

export function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/**
 * Makes `snapshots/<commit>/<file>` point at a blob with a relative symlink, as huggingface_hub does. Where
 * symlinks are not allowed (Windows without developer mode) the blob is moved into the snapshot instead, which
 * is huggingface_hub's own fallback.
 */
export async function linkHfSnapshot(repo: string, commit: string, file: string, blob: string, env: Env = process.env): Promise<string> {
  const repoDir = hfRepoDir(repo, env);
  const link = assertInside(repoDir, join(repoDir, 'snapshots', isCommitHash(commit) ? commit : checkRevision(commit), ...checkRepoFile(file).split('/')));
  assertInside(join(repoDir, 'blobs'), blob);
  await mkdir(dirname(link), { recursive: true });
  await rm(link, { force: true });
  try {
    await symlink(relative(dirname(link), blob), link);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP') throw e;
    await rename(blob, link);
  }
  return link;
}

/** Records which commit a branch or tag pointed to (`refs/<revision>`), unless the revision is a commit. */
export async function writeHfRef(repo: string, revision: string, commit: string, env: Env = process.env): Promise<void> {
  if (revision === commit || COMMIT.test(revision)) return;
  if (!COMMIT.test(commit)) throw new Error(`refusing to record '${checkRevision(revision)}' → a commit that is not a 40-digit hex hash`);
  const repoDir = hfRepoDir(repo, env);
  const ref = assertInside(repoDir, join(repoDir, 'refs', ...checkRevision(revision).split('/')));
  await mkdir(dirname(ref), { recursive: true });
  await writeFile(ref, commit);
}
