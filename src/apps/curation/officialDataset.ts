/**
 * A curated image list in a form the official DINOv2 data loader reads: its `ImageNet22k` dataset, the one
 * official dataset class that takes any number of images (`ImageNet` asserts the 1,281,167 images of
 * ImageNet-1k). Layout, as dinov2/data/datasets/image_net_22k.py reads it:
 *
 *   <dir>/<class_id>.tar        uncompressed tarballs holding the image files (memory-mapped by the loader)
 *   <dir>/extra/entries.npy     one record per sample: class_index <u4, class_id <U, start_offset <u4,
 *                               end_offset <u4, filename <U — the sample's bytes are tar[start + 512 : end]
 *   <dir>/extra/class-ids.npy   the class ids (<U), indexed by class_index
 *
 * and the training config names it `train.dataset_path: ImageNet22k:root=<dir>:extra=<dir>/extra`.
 * Classes mean nothing to self-supervised training; the images are packed into tarballs `curated-00000`,
 * `curated-00001`, … of at most `maxTarBytes` (offsets are uint32, so under 4 GiB each). An image listed
 * several times (a selection with multiplier > 1) is stored once and listed as several samples.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';

export interface OfficialDatasetOptions {
  /** Largest tarball (default 3.5 GiB; must stay below 4 GiB). */
  maxTarBytes?: number;
}

export interface OfficialDatasetReport {
  /** What to put in `train.dataset_path`. */
  datasetPath: string;
  samples: number;
  images: number;
  tarballs: string[];
}

/** A ustar header for a regular file. */
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512, 0);
  const put = (text: string, off: number, len: number): void => void h.write(text.slice(0, len), off, len, 'ascii');
  const octal = (v: number, len: number): string => v.toString(8).padStart(len - 1, '0') + '\0';
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12);
  h.fill(0x20, 148, 156);
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

/** `.npy` v1.0 bytes of a 1-D array: header dict padded so the data starts on a 64-byte boundary. */
function npy(descr: string, count: number, body: Buffer): Buffer {
  let header = `{'descr': ${descr}, 'fortran_order': False, 'shape': (${count},), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), body]);
}

/** A fixed-width numpy unicode field (UTF-32LE, zero-padded). */
function putU(buf: Buffer, off: number, text: string, width: number): void {
  const cps = [...text];
  for (let i = 0; i < width; i++) buf.writeUInt32LE(i < cps.length ? cps[i]!.codePointAt(0)! : 0, off + 4 * i);
}

async function appendFile(out: FileHandle, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) await out.write(chunk as Buffer);
}

/** Writes `files` (in order; repeats allowed) as an ImageNet22k-layout dataset in `dir`. */
export async function writeOfficialDataset(dir: string, files: readonly string[], opts: OfficialDatasetOptions = {}): Promise<OfficialDatasetReport> {
  const maxTar = opts.maxTarBytes ?? 3.5 * 2 ** 30;
  if (!(maxTar > 1024 && maxTar < 2 ** 32)) throw new Error(`official dataset: maxTarBytes must be in (1 KiB, 4 GiB), got ${maxTar}`);
  if (dir.includes(':')) throw new Error(`official dataset: '${dir}' contains ':', which the official dataset string uses as its separator; choose another folder`);
  if (files.length === 0) throw new Error('official dataset: no images');
  await mkdir(join(dir, 'extra'), { recursive: true });
  const where = new Map<string, { cls: number; start: number; end: number; name: string }>();
  const classIds: string[] = [];
  const tarballs: string[] = [];
  let out: FileHandle | null = null;
  let tmp = '';
  let offset = 0;
  const closeTar = async (): Promise<void> => {
    if (!out) return;
    await out.write(Buffer.alloc(1024, 0));
    await out.close();
    await rename(tmp, tarballs[tarballs.length - 1]!);
    out = null;
  };
  try {
    for (const path of files) {
      if (where.has(path)) continue;
      const size = (await stat(path).catch(() => {
        throw new Error(`official dataset: cannot read ${path}`);
      })).size;
      const need = 512 + Math.ceil(size / 512) * 512;
      if (need + 1024 > maxTar) throw new Error(`official dataset: ${path} (${size} bytes) does not fit a tarball of ${maxTar} bytes`);
      if (!out || offset + need + 1024 > maxTar) {
        await closeTar();
        const id = `curated-${String(classIds.length).padStart(5, '0')}`;
        classIds.push(id);
        tarballs.push(join(dir, `${id}.tar`));
        tmp = `${tarballs[tarballs.length - 1]}.partial-${process.pid}`;
        out = await open(tmp, 'w');
        offset = 0;
      }
      const name = `${String(where.size).padStart(8, '0')}${extname(path).toLowerCase() || '.jpg'}`;
      await out!.write(tarHeader(name, size));
      await appendFile(out!, path);
      const pad = (512 - (size % 512)) % 512;
      if (pad) await out!.write(Buffer.alloc(pad, 0));
      where.set(path, { cls: classIds.length - 1, start: offset, end: offset + 512 + size, name });
      offset += need;
    }
    await closeTar();
  } catch (e) {
    if (out) await (out as FileHandle).close().catch(() => undefined);
    throw e;
  }

  const idWidth = Math.max(...classIds.map((c) => c.length));
  const nameWidth = Math.max(...[...where.values()].map((w) => w.name.length));
  const rec = 4 + 4 * idWidth + 4 + 4 + 4 * nameWidth;
  const body = Buffer.alloc(rec * files.length);
  files.forEach((path, i) => {
    const w = where.get(path)!;
    let o = i * rec;
    body.writeUInt32LE(w.cls, o);
    putU(body, (o += 4), classIds[w.cls]!, idWidth);
    body.writeUInt32LE(w.start, (o += 4 * idWidth));
    body.writeUInt32LE(w.end, (o += 4));
    putU(body, (o += 4), w.name, nameWidth);
  });
  const descr = `[('class_index', '<u4'), ('class_id', '<U${idWidth}'), ('start_offset', '<u4'), ('end_offset', '<u4'), ('filename', '<U${nameWidth}')]`;
  const ids = Buffer.alloc(4 * idWidth * classIds.length);
  classIds.forEach((c, i) => putU(ids, i * 4 * idWidth, c, idWidth));
  const atomic = async (path: string, data: Buffer): Promise<void> => {
    await writeFile(`${path}.partial-${process.pid}`, data);
    await rename(`${path}.partial-${process.pid}`, path);
  };
  await atomic(join(dir, 'extra', 'entries.npy'), npy(descr, files.length, body));
  await atomic(join(dir, 'extra', 'class-ids.npy'), npy(`'<U${idWidth}'`, classIds.length, ids));
  return { datasetPath: `ImageNet22k:root=${dir}:extra=${join(dir, 'extra')}`, samples: files.length, images: where.size, tarballs: tarballs.map((t) => basename(t)) };
}
