/**
 * GraphIR → ONNX ModelProto. Small tensors go inline; large ones go to external data so that models over
 * the 2 GB protobuf limit (ViT-g/14 in fp32 is 4.5 GB) work and so that no second copy of the weights is
 * built in memory: tensors are streamed one by one into `<name>.onnx.data` at page-aligned offsets (which
 * lets onnxruntime map them), or, when a checkpoint already holds the exact bytes, referenced in place.
 */
import { open, mkdir, link as hardLink, writeFile, rm, realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ProtoWriter } from './protobuf.js';
import { writeFully } from '../core/fileio.js';
import type { GraphIR } from './ir.js';
import { byteLength, checkedBytes, encodeModel, PAGE, tensorProto } from './onnxEncode.js';

export { encodeOnnx, encodeOnnxInMemory, type InMemoryOnnx } from './onnxEncode.js';

export interface WriteOnnxOptions {
  /** Tensors at least this large go to external data (default 1 KiB). Infinity keeps everything inline. */
  externalThreshold?: number;
  /** Reference checkpoint bytes in place (through a symlink beside the model) when an initializer allows it. */
  linkExtents?: boolean;
  producer?: string;
}

/**
 * onnxruntime only reads external data inside the model's folder and resolves symlinks before checking,
 * so a checkpoint is referenced through a hard link. Where that is impossible (another file system, no
 * permission) the caller copies the bytes instead.
 */
async function linkInto(dir: string, path: string, links: Map<string, string | null>): Promise<boolean> {
  if (links.has(path)) return links.get(path) !== null;
  const name = `ckpt${links.size}_${basename(path).replace(/[^A-Za-z0-9._-]/g, '_')}`;
  try {
    // link(2) does not follow symlinks: linking a symlink (a Hugging Face cache snapshot entry is one,
    // pointing at ../../blobs/<sha>) would put a dangling relative link in the temp folder. Link the file.
    await hardLink(await realpath(path), join(dir, name));
    links.set(path, name);
    return true;
  } catch {
    links.set(path, null);
    return false;
  }
}

/**
 * Writes `dir/<name>.onnx` (+ `<name>.onnx.data` and links to checkpoints as needed) and returns the model
 * path. Tensors are produced and written one at a time.
 */
export async function writeOnnx(ir: GraphIR, dir: string, name: string, options: WriteOnnxOptions = {}): Promise<string> {
  const threshold = options.externalThreshold ?? 1024;
  await mkdir(dir, { recursive: true });
  const dataName = `${name}.onnx.data`;
  const dataPath = join(dir, dataName);
  const links = new Map<string, string | null>();
  const inits: ProtoWriter[] = [];
  const handle = await open(dataPath, 'w');
  let offset = 0;
  try {
    for (const init of ir.initializers) {
      const length = byteLength(init);
      const extent = init.source.extent;
      if (length < threshold) {
        inits.push(tensorProto(init.name, init.dtype, init.shape, { raw: await checkedBytes(init) }));
      } else if (options.linkExtents && extent && extent.length === length && (await linkInto(dir, extent.path, links))) {
        const link = links.get(extent.path)!;
        inits.push(tensorProto(init.name, init.dtype, init.shape, { location: link, offset: extent.offset, length }));
      } else {
        const bytes = await checkedBytes(init);
        offset = Math.ceil(offset / PAGE) * PAGE;
        await writeFully(handle, bytes, offset);
        inits.push(tensorProto(init.name, init.dtype, init.shape, { location: dataName, offset, length }));
        offset += length;
      }
    }
  } finally {
    await handle.close();
  }
  if (offset === 0) await rm(dataPath, { force: true });
  const modelPath = join(dir, `${name}.onnx`);
  await writeFile(modelPath, encodeModel(ir, inits, options.producer ?? 'dinov2-ts'));
  return modelPath;
}
