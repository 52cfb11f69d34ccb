/**
 * Image arguments (command-line arguments, or lists the library is given) → files. Each argument is
 * - an existing file: taken as is, whatever its extension (an unreadable one is reported later, by path);
 * - an existing folder: every image file below it (by extension, recursively, hidden entries skipped), sorted;
 * - otherwise a glob (`*`, `?`, `[abc]`, `**` for any depth), for shells that pass patterns through quoted:
 *   matching files, sorted.
 * Arguments that match nothing are returned as problems (the caller reports them like unreadable files).
 * Files named twice are kept once, at their first place — compared by real path, so a file reached through
 * symlinks or two arguments counts once. Folders are walked by real path too: each folder once, so symlink
 * loops (a link to a parent, two folders linking to each other) end instead of repeating or recursing forever.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.bmp', '.avif', '.heic', '.heif'];

export interface InputProblem {
  path: string;
  reason: string;
}

export interface ExpandedInputs {
  files: string[];
  problems: InputProblem[];
}

const GLOB_CHARS = /[*?[]/;

function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

async function kindOf(path: string): Promise<'file' | 'dir' | null> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}

async function realOrSelf(path: string): Promise<string> {
  return realpath(path).catch(() => path);
}

interface Found {
  rel: string;
  /** Reached through a symlink (to the file or to a folder above it). */
  viaLink: boolean;
}

/**
 * Every file below `dir` (hidden entries skipped), relative paths joined with '/', down to `maxDepth` levels.
 * Each real folder is walked once: real subfolders first, the whole tree, and only then folders reached
 * through symlinks whose real path was not walked yet — so a loop ends, and a folder that is both linked and
 * present is listed under its real place.
 */
async function walkFound(dir: string, maxDepth: number): Promise<Found[]> {
  const visited = new Set<string>([await realOrSelf(dir)]);
  const out: Found[] = [];
  let queue: { dir: string; prefix: string; depth: number; viaLink: boolean }[] = [{ dir, prefix: '', depth: maxDepth, viaLink: false }];
  let linked: typeof queue = [];
  while (queue.length) {
    for (let q = 0; q < queue.length; q++) {
      const cur = queue[q]!;
      let entries;
      try {
        entries = await readdir(cur.dir, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const rel = cur.prefix ? `${cur.prefix}/${e.name}` : e.name;
        const path = join(cur.dir, e.name);
        const link = e.isSymbolicLink();
        const isDir = link ? (await kindOf(path)) === 'dir' : e.isDirectory();
        if (!isDir) {
          if (!link || (await kindOf(path)) === 'file') out.push({ rel, viaLink: cur.viaLink || link });
          continue;
        }
        if (cur.depth <= 1) continue;
        const next = { dir: path, prefix: rel, depth: cur.depth - 1, viaLink: cur.viaLink || link };
        if (link) linked.push(next);
        else {
          const real = await realOrSelf(path);
          if (visited.has(real)) continue;
          visited.add(real);
          queue.push(next);
        }
      }
    }
    // Then the linked folders not walked yet, each once (their own links again deferred).
    queue = [];
    for (const l of linked) {
      const real = await realOrSelf(l.dir);
      if (visited.has(real)) continue;
      visited.add(real);
      queue.push(l);
    }
    linked = [];
  }
  return out;
}

async function walk(dir: string, maxDepth: number): Promise<string[]> {
  return (await walkFound(dir, maxDepth)).map((f) => f.rel);
}

/**
 * The image files below a folder, each real file once (the name not reached through a symlink preferred,
 * then the first in sorted order), sorted.
 */
async function folderImages(dir: string): Promise<string[]> {
  const found = (await walkFound(dir, Infinity)).filter((f) => isImageName(f.rel));
  found.sort((a, b) => Number(a.viaLink) - Number(b.viaLink) || (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  const byReal = new Set<string>();
  const kept: string[] = [];
  for (const f of found) {
    const real = await realOrSelf(join(dir, f.rel));
    if (byReal.has(real)) continue;
    byReal.add(real);
    kept.push(f.rel);
  }
  return kept.sort();
}

/** One path segment of a glob as a regular expression (no '/'); `*` and `?` do not match a leading dot. */
function segmentRegex(seg: string): string {
  let re = seg.startsWith('.') ? '' : '(?!\\.)';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return re;
}

/** Files matching a glob, sorted; the walk starts at the longest leading part without glob characters. */
export async function globFiles(pattern: string): Promise<string[]> {
  const segments = pattern.split('/');
  const firstGlob = segments.findIndex((s) => GLOB_CHARS.test(s));
  if (firstGlob < 0) return (await kindOf(pattern)) === 'file' ? [pattern] : [];
  const baseParts = segments.slice(0, firstGlob);
  const base = baseParts.length === 0 ? '.' : baseParts.join('/') || '/';
  const rest = segments.slice(firstGlob);
  let re = '';
  rest.forEach((seg, i) => {
    const last = i === rest.length - 1;
    if (seg === '**') re += last ? '.*' : '(?:[^/]+/)*';
    else re += segmentRegex(seg) + (last ? '' : '/');
  });
  const matcher = new RegExp(`^${re}$`);
  const depth = rest.includes('**') ? Infinity : rest.length;
  const files = (await walk(base, depth)).filter((rel) => matcher.test(rel)).sort();
  return files.map((rel) => (baseParts.length === 0 ? rel : join(base, rel)));
}

export async function expandInputs(args: readonly string[]): Promise<ExpandedInputs> {
  const files: string[] = [];
  const seen = new Set<string>();
  const problems: InputProblem[] = [];
  const add = async (f: string): Promise<void> => {
    const real = await realOrSelf(f);
    if (!seen.has(real)) {
      seen.add(real);
      files.push(f);
    }
  };
  for (const arg of args) {
    const kind = await kindOf(arg);
    if (kind === 'file') await add(arg);
    else if (kind === 'dir') {
      const found = await folderImages(arg);
      if (found.length === 0) problems.push({ path: arg, reason: `no image files in this folder (${IMAGE_EXTENSIONS.join(', ')})` });
      for (const rel of found) await add(join(arg, rel));
    } else if (GLOB_CHARS.test(arg)) {
      const found = await globFiles(arg);
      if (found.length === 0) problems.push({ path: arg, reason: 'no files match this pattern' });
      for (const f of found) await add(f);
    } else {
      problems.push({ path: arg, reason: 'no such file or folder' });
    }
  }
  return { files, problems };
}
