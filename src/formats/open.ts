/**
 * Opens weights in any supported format, detected by content rather than name: a directory is a Hugging
 * Face folder, a zip is a torch.save `.pth`, a bare pickle is the legacy torch format (refused with advice),
 * anything else is read as safetensors. `openTensorFile` is that detection for one file, with the keys as
 * stored; `openWeights` also picks the backbone state dict out of training wrappers and renames it to the
 * hub layout (see `selectStateDict`); the view records what was stripped in `metadata.stateDictPrefix` /
 * `metadata.unchunkedBlocks`.
 */
import { stat } from 'node:fs/promises';
import { openRegularFile } from '../core/fileio.js';
import type { WeightSource } from './types.js';
import { HfFolder } from './hfFolder.js';
import { PthFile } from './pth.js';
import { SafetensorsFile } from './safetensors.js';
import { selectedStateDict } from './renamed.js';

export { checkStateDict, type CheckOptions } from './checkStateDict.js';

async function leadingBytes(path: string, n: number): Promise<Uint8Array> {
  const handle = await openRegularFile(path);
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
  // torch < 0.4 wrote a tar archive ('ustar' at byte 257): PthFile.open names it.
  const tar = head.length >= 262 && Buffer.from(head.subarray(257, 262)).toString('latin1') === 'ustar';
  return zip || pickle || tar;
}

/**
 * One weight file (not a folder), its format sniffed from the first bytes: a zip (or a legacy bare pickle,
 * which `PthFile.open` refuses with advice) opens as `.pth`, anything else as safetensors. Keys are left
 * as stored; errors are the readers' own (including the file system's, e.g. ENOENT or EISDIR).
 */
export async function openTensorFile(path: string): Promise<PthFile | SafetensorsFile> {
  return isZipOrPickle(await leadingBytes(path, 262)) ? PthFile.open(path) : SafetensorsFile.open(path);
}

export async function openWeights(path: string): Promise<WeightSource> {
  if (path.endsWith('.incomplete')) throw new Error(`${path}: an unfinished download (its '.incomplete' name says so); refusing to load it`);
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    throw new Error(`${path}: cannot open weights (${(e as Error).message})`);
  }
  if (info.isDirectory()) return HfFolder.open(path);
  const source: WeightSource = await openTensorFile(path);
  try {
    return selectedStateDict(source, path);
  } catch (e) {
    await source.close();
    throw e;
  }
}
