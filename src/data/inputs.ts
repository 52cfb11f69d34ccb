/**
 * Image arguments (command-line arguments, or lists the library is given) → files. Each argument is
 * - an existing file: taken as is, whatever its extension (an unreadable one is reported later, by path);
 * - an existing folder: every image file below it (by extension, recursively, hidden entries skipped), sorted;
 * - otherwise a glob (`*`, `?`, `[abc]`, `**` for any depth), for shells that pass patterns through quoted:
 *   matching files, sorted.
 * Arguments that match nothing are returned as problems (the caller reports them like unreadable files).
 * Files named twice are kept once, at their first place.
 */
import { readdir, stat } from 'node:fs/promises';
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

/** Every file below `dir` (hidden entries skipped), relative paths joined with '/', down to `maxDepth` levels. */
async function walk(dir: string, maxDepth: number, prefix = ''): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    let isDir = e.isDirectory();
    if (e.isSymbolicLink()) isDir = (await kindOf(join(dir, e.name))) === 'dir';
    if (isDir) {
      if (maxDepth > 1) out.push(...(await walk(join(dir, e.name), maxDepth - 1, rel)));
    } else {
      out.push(rel);
    }
  }
  return out;
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
  const add = (f: string): void => {
    if (!seen.has(f)) {
      seen.add(f);
      files.push(f);
    }
  };
  for (const arg of args) {
    const kind = await kindOf(arg);
    if (kind === 'file') add(arg);
    else if (kind === 'dir') {
      const found = (await walk(arg, Infinity)).filter(isImageName).sort();
      if (found.length === 0) problems.push({ path: arg, reason: `no image files in this folder (${IMAGE_EXTENSIONS.join(', ')})` });
      for (const rel of found) add(join(arg, rel));
    } else if (GLOB_CHARS.test(arg)) {
      const found = await globFiles(arg);
      if (found.length === 0) problems.push({ path: arg, reason: 'no files match this pattern' });
      found.forEach(add);
    } else {
      problems.push({ path: arg, reason: 'no such file or folder' });
    }
  }
  return { files, problems };
}
