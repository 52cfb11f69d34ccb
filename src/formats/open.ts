/**
 * Opens weights in any supported format, detected by content rather than name: a directory is a Hugging
 * Face folder, a zip is a torch.save `.pth`, a bare pickle is the legacy torch format (refused with advice),
 * anything else is read as safetensors. `openTensorFile` is that detection for one file, with the keys as
 * stored; `openWeights` also picks the backbone state dict out of training wrappers and renames it to the
 * hub layout (see `selectStateDict`); the view records what was stripped in `metadata.stateDictPrefix` /
 * `metadata.unchunkedBlocks`.
 */
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { openRegularFile, readRegularFile } from '../core/fileio.js';
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
  const head = await leadingBytes(path, 262);
  if (isZipOrPickle(head)) return PthFile.open(path);
  // Something recognisably else (an image, an ONNX model, a web page…) is named as such; anything else is read
  // as safetensors, whose checks say precisely what is wrong with it.
  const kind = head.length >= 8 && !looksLikeSafetensors(head, (await stat(path)).size) ? describeFileKind(head) : undefined;
  if (kind) throw new Error(`${path}: looks like ${kind}, not a checkpoint (a torch .pth, a .safetensors file or a Hugging Face folder)`);
  return SafetensorsFile.open(path);
}

/** A safetensors file starts with its JSON header's length (u64 LE, within the file) and then '{'. */
function looksLikeSafetensors(head: Uint8Array, size: number): boolean {
  if (head.length < 9) return false;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const n = view.getBigUint64(0, true);
  return n >= 2n && n <= BigInt(Math.max(0, size - 8)) && head[8] === 0x7b;
}

const startsWith = (head: Uint8Array, bytes: readonly number[], at = 0): boolean => bytes.every((b, i) => head[at + i] === b);
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/**
 * What a file that is not a checkpoint seems to be, from its first bytes (magic numbers), for error messages:
 * 'a PNG image', 'an ONNX model', … or undefined when nothing is recognised.
 */
export function describeFileKind(head: Uint8Array): string | undefined {
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47])) return 'a PNG image';
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'a JPEG image';
  if (startsWith(head, ascii('GIF8'))) return 'a GIF image';
  if (startsWith(head, ascii('RIFF')) && startsWith(head, ascii('WEBP'), 8)) return 'a WebP image';
  if (startsWith(head, ascii('BM'))) return 'a BMP image';
  if (startsWith(head, [0x49, 0x49, 0x2a, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2a])) return 'a TIFF image';
  if (startsWith(head, ascii('ftyp'), 4)) return 'an HEIF/AVIF image or MP4 video';
  if (startsWith(head, ascii('%PDF'))) return 'a PDF document';
  if (startsWith(head, [0x1f, 0x8b])) return 'a gzip archive (unpack it first)';
  if (startsWith(head, ascii('BZh'))) return 'a bzip2 archive (unpack it first)';
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'an xz archive (unpack it first)';
  if (startsWith(head, [0x93, ...ascii('NUMPY')])) return 'a NumPy .npy array (features, not weights?)';
  if (startsWith(head, [0x89, ...ascii('HDF')])) return 'an HDF5 file (Keras/TensorFlow weights?)';
  if (startsWith(head, ascii('GGUF'))) return 'a GGUF model (llama.cpp)';
  if (startsWith(head, ascii('version https://git-lfs'))) return 'a Git LFS pointer (run git lfs pull)';
  // ONNX ModelProto: field 1 (ir_version, varint) first, then producer_name (2) / opset_import (8) / graph (7).
  if (head[0] === 0x08 && head[1]! > 0 && head[1]! < 0x20 && [0x12, 0x1a, 0x22, 0x2a, 0x3a, 0x42].includes(head[2]!)) return 'an ONNX model (dinov2 convert writes these; it reads checkpoints)';
  const text = [...head].every((b) => b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f));
  if (text && head.length > 0) {
    const t = String.fromCharCode(...head).trimStart();
    if (t.startsWith('{') || t.startsWith('[')) return 'a JSON file';
    if (t.startsWith('<')) return 'an HTML/XML page (a failed download?)';
    return 'a text file';
  }
  return undefined;
}

export { SIDECAR_METADATA_KEY } from './renamed.js';

/** The parsed `config.json` in the folder of `path`, or undefined when there is none. */
async function sidecarConfig(path: string): Promise<Record<string, unknown> | undefined> {
  const file = join(dirname(path), 'config.json');
  try {
    if (!(await stat(file)).isFile()) return undefined;
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(await readRegularFile(file, 1 << 20)));
  } catch (e) {
    // The parser's message quotes the text; only its position is kept.
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new Error(`${file} (beside ${path}): not valid JSON${at ? ` (syntax error at byte ${at})` : ''}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${file} (beside ${path}): not a JSON object`);
  return value as Record<string, unknown>;
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
    return selectedStateDict(source, path, await sidecarConfig(path));
  } catch (e) {
    await source.close();
    throw e;
  }
}
