/**
 * Opens weights in any supported format, detected by content rather than name: a directory is a Hugging
 * Face folder, a zip is a torch.save `.pth`, a bare pickle is the legacy torch format (refused with advice),
 * anything else is read as safetensors. `openTensorFile` is that detection for one file, with the keys as
 * stored; `openWeights` also picks the backbone state dict out of training wrappers and renames it to the
 * hub layout (see `selectStateDict`); the view records what was stripped in `metadata.stateDictPrefix` /
 * `metadata.unchunkedBlocks`.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { WeightSource } from './types.js';
import { HfFolder } from './hfFolder.js';
import { PthFile } from './pth.js';
import { SafetensorsFile } from './safetensors.js';
import { RenamedSource } from './renamed.js';
import { selectStateDict } from './stateDictKeys.js';

export { checkStateDict, type CheckOptions } from './checkStateDict.js';

async function leadingBytes(path: string, n: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buf = new Uint8Array(n);
    const { bytesRead } = await handle.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function isZipOrPickle(head: Uint8Array): boolean {
  const pk = head[0] === 0x50 && head[1] === 0x4b;
  const zip = pk && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
  // safetensors starts with its header length (u64 LE), whose top byte is 0 for any real file; torch's legacy
  // format starts with PROTO 2 and a LONG1 magic number, whose bytes are non-zero there.
  const pickle = head[0] === 0x80 && head[1] !== undefined && head[1] >= 2 && head[1] <= 5 && head.length >= 8 && head[7] !== 0;
  return zip || pickle;
}

/**
 * One weight file (not a folder), its format sniffed from the first bytes: a zip (or a legacy bare pickle,
 * which `PthFile.open` refuses with advice) opens as `.pth`, anything else as safetensors. Keys are left
 * as stored; errors are the readers' own (including the file system's, e.g. ENOENT or EISDIR).
 */
export async function openTensorFile(path: string): Promise<PthFile | SafetensorsFile> {
  return isZipOrPickle(await leadingBytes(path, 8)) ? PthFile.open(path) : SafetensorsFile.open(path);
}

/**
 * The metadata key under which `openWeights` shows a `config.json` found beside a `.pth`/`.safetensors` file
 * (as Hugging Face keeps one beside `pytorch_model.bin`), parsed; models/load.ts reads the architecture from it.
 */
export const SIDECAR_METADATA_KEY = 'config_json';

/** The parsed `config.json` in the folder of `path`, or undefined when there is none. */
async function sidecarConfig(path: string): Promise<Record<string, unknown> | undefined> {
  const file = join(dirname(path), 'config.json');
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile() || info.size > 1 << 20) return undefined;
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} (beside ${path}): not JSON (${(e as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${file} (beside ${path}): not a JSON object`);
  return value as Record<string, unknown>;
}

export async function openWeights(path: string): Promise<WeightSource> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    throw new Error(`${path}: cannot open weights (${(e as Error).message})`);
  }
  if (info.isDirectory()) return HfFolder.open(path);
  const source: WeightSource = await openTensorFile(path);
  try {
    const keys = source.keys();
    const { names, prefix, unchunked } = selectStateDict(keys, path);
    const identity = names.size === keys.length && [...names].every(([k, o]) => k === o);
    const beside = await sidecarConfig(path);
    if (identity && !beside) return source;
    return new RenamedSource(source, names, { ...(identity ? {} : { stateDictPrefix: prefix, unchunkedBlocks: unchunked }), ...(beside ? { [SIDECAR_METADATA_KEY]: beside } : {}) });
  } catch (e) {
    await source.close();
    throw e;
  }
}
