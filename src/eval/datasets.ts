/**
 * Labelled image sets for the evaluations: a folder of class sub-folders (torchvision's `ImageFolder`:
 * classes are the sub-folder names, sorted; images anywhere below each), or a CSV of `path,label` rows
 * (paths relative to the CSV's folder; an optional `path,label` header; RFC 4180 quoting).
 *
 * Labels are indices into `classes`. A validation set is read against the training classes so that index i
 * means the same class in both; a validation class the training set lacks is an error.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { IMAGE_EXTENSIONS } from '../data/inputs.js';

export interface LabeledImages {
  /** Where the set came from (folder or CSV), for messages. */
  source: string;
  paths: string[];
  /** Index into `classes` for each path. */
  labels: Int32Array;
  classes: string[];
}

function isImage(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

async function imagesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory() || (e.isSymbolicLink() && (await stat(p)).isDirectory())) out.push(...(await imagesBelow(p)));
    else if (isImage(e.name)) out.push(p);
  }
  return out.sort();
}

async function fromFolder(dir: string): Promise<{ paths: string[]; names: string[] }> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
  const classes: string[] = [];
  for (const e of entries) {
    if (e.isDirectory() || (e.isSymbolicLink() && (await stat(join(dir, e.name))).isDirectory())) classes.push(e.name);
  }
  // ImageFolder sorts class names by code point, as Python's sorted() does.
  classes.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (classes.length === 0) throw new Error(`${dir}: no class sub-folders (expected DIR/<class>/<image>)`);
  const paths: string[] = [];
  const names: string[] = [];
  for (const c of classes) {
    for (const p of await imagesBelow(join(dir, c))) {
      paths.push(p);
      names.push(c);
    }
  }
  return { paths, names };
}

/** RFC 4180 rows (quoted fields may hold commas, quotes as "", and newlines). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0]!.trim() === ''));
}

async function fromCsv(path: string): Promise<{ paths: string[]; names: string[] }> {
  const rows = parseCsv(await readFile(path, 'utf8'));
  const base = dirname(path);
  const paths: string[] = [];
  const names: string[] = [];
  rows.forEach((r, i) => {
    if (i === 0 && r[0]?.trim().toLowerCase() === 'path' && r[1]?.trim().toLowerCase() === 'label') return;
    if (r.length < 2 || r[0]!.trim() === '' || r[1]!.trim() === '') {
      throw new Error(`${path}: line ${i + 1}: expected 'path,label', got ${JSON.stringify(r.join(','))}`);
    }
    const p = r[0]!.trim();
    paths.push(isAbsolute(p) ? p : join(base, p));
    names.push(r[1]!.trim());
  });
  if (paths.length === 0) throw new Error(`${path}: no rows`);
  return { paths, names };
}

/**
 * Reads a labelled set from a folder or a CSV file. With `classes` (the training classes), labels index that
 * list; otherwise the set's own classes are used (sorted).
 */
export async function loadDataset(spec: string, opts: { classes?: readonly string[] } = {}): Promise<LabeledImages> {
  let info;
  try {
    info = await stat(spec);
  } catch {
    throw new Error(`${spec}: no such folder or CSV file`);
  }
  const { paths, names } = info.isDirectory() ? await fromFolder(spec) : await fromCsv(spec);
  if (paths.length === 0) throw new Error(`${spec}: no images found`);
  const classes = opts.classes ? [...opts.classes] : [...new Set(names)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const index = new Map(classes.map((c, i) => [c, i]));
  const unknown = [...new Set(names.filter((n) => !index.has(n)))];
  if (unknown.length > 0) {
    throw new Error(`${spec}: class${unknown.length > 1 ? 'es' : ''} ${unknown.slice(0, 5).map((u) => `'${u}'`).join(', ')} not in the training classes (${classes.slice(0, 8).join(', ')}${classes.length > 8 ? ', …' : ''})`);
  }
  return { source: resolve(spec), paths, labels: Int32Array.from(names, (n) => index.get(n)!), classes };
}
