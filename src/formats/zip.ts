/**
 * A minimal read-only ZIP reader, enough for torch.save archives: central directory (ZIP64 included, which
 * torch writes once a checkpoint passes 4 GiB), "stored" entries (what torch writes) and "deflated" entries
 * (what re-zipping tools write). For stored entries the absolute file offset of the data is resolved from the
 * local header — its extra field differs from the central one (torch pads it to align data to 64 bytes) — so
 * tensors can be referenced in place.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { readExactly } from '../core/fileio.js';
import { crc32 } from '../core/crc32.js';

export const ZIP_STORED = 0;
export const ZIP_DEFLATED = 8;

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
  /** Absolute offset of the (possibly compressed) data in the file. */
  dataOffset: number;
}

const EOCD_SIG = 0x06054b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
const EOCD64_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

/** 64-bit little-endian field as a number; offsets past 2^53 cannot occur in a real file. */
function u64(view: DataView, at: number): number {
  return Number(view.getBigUint64(at, true));
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class ZipReader {
  private constructor(
    readonly path: string,
    readonly handle: FileHandle,
    readonly size: number,
    private readonly byName: Map<string, ZipEntry>,
  ) {}

  static async open(path: string): Promise<ZipReader> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const entries = await readCentralDirectory(handle, path, size);
      const byName = new Map<string, ZipEntry>();
      for (const e of entries) byName.set(e.name, e);
      return new ZipReader(path, handle, size, byName);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  entries(): ZipEntry[] {
    return [...this.byName.values()];
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** The whole entry, inflated if need be and checked against its CRC. */
  async read(entry: ZipEntry): Promise<Uint8Array> {
    const raw = await readExactly(this.handle, this.path, entry.dataOffset, entry.compressedSize);
    let data: Uint8Array;
    if (entry.method === ZIP_STORED) data = raw;
    else if (entry.method === ZIP_DEFLATED) {
      try {
        data = inflateRawSync(raw);
      } catch (e) {
        throw new Error(`${this.path}: entry '${entry.name}' does not inflate (${(e as Error).message})`);
      }
    } else throw new Error(`${this.path}: entry '${entry.name}' uses compression method ${entry.method}; only stored and deflated are supported`);
    if (data.length !== entry.size) {
      throw new Error(`${this.path}: entry '${entry.name}' should hold ${entry.size} bytes but holds ${data.length}`);
    }
    if (crc32(data) !== entry.crc32) throw new Error(`${this.path}: entry '${entry.name}' is corrupt (CRC mismatch)`);
    return data;
  }

  /** A byte range of a stored entry, read in place (no CRC check: only the range is read). */
  async readRange(entry: ZipEntry, start: number, length: number): Promise<Uint8Array> {
    if (entry.method !== ZIP_STORED) throw new Error(`${this.path}: entry '${entry.name}' is compressed; it cannot be read by range`);
    if (start < 0 || start + length > entry.size) {
      throw new Error(`${this.path}: range [${start}, ${start + length}) lies outside entry '${entry.name}' of ${entry.size} bytes`);
    }
    return readExactly(this.handle, this.path, entry.dataOffset + start, length);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

async function readCentralDirectory(handle: FileHandle, path: string, size: number): Promise<ZipEntry[]> {
  const truncated = (why: string): never => {
    throw new Error(`${path}: truncated or not a zip file (${why})`);
  };
  // The end record sits in the last 22 bytes plus a comment of up to 64 KiB: search backwards for it.
  const tailLen = Math.min(size, EOCD_SIZE + MAX_COMMENT);
  const tail = await readExactly(handle, path, size - tailLen, tailLen);
  const tv = dataView(tail);
  let eocd = -1;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIG && i + EOCD_SIZE + tv.getUint16(i + 20, true) === tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) truncated('no end-of-central-directory record');
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  const eocdAbs = size - tailLen + eocd;

  if (eocdAbs >= 20) {
    const loc = await readExactly(handle, path, eocdAbs - 20, 20);
    const lv = dataView(loc);
    if (lv.getUint32(0, true) === EOCD64_LOCATOR_SIG) {
      const at = u64(lv, 8);
      if (at + 56 > size) truncated(`ZIP64 end record at ${at} lies past the end of the ${size}-byte file`);
      const rec = dataView(await readExactly(handle, path, at, 56));
      if (rec.getUint32(0, true) !== EOCD64_SIG) truncated(`no ZIP64 end record at offset ${at}`);
      count = u64(rec, 32);
      cdSize = u64(rec, 40);
      cdOffset = u64(rec, 48);
    }
  }
  if (count === U16_MAX || cdOffset === U32_MAX) truncated('ZIP64 fields are used but the ZIP64 end record is missing');
  if (cdOffset + cdSize > size) truncated(`central directory ends at byte ${cdOffset + cdSize} but the file has ${size} bytes`);

  const cd = await readExactly(handle, path, cdOffset, cdSize);
  const cv = dataView(cd);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== CENTRAL_SIG) truncated(`central directory entry ${n} is damaged`);
    const flags = cv.getUint16(p + 8, true);
    const method = cv.getUint16(p + 10, true);
    const crc = cv.getUint32(p + 16, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let uncompressed = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let localHeaderOffset = cv.getUint32(p + 42, true);
    const name = Buffer.from(cd.subarray(p + 46, p + 46 + nameLen)).toString('utf8');
    if (flags & 1) throw new Error(`${path}: entry '${name}' is encrypted`);
    // ZIP64 extended information: only the fields saturated in the fixed header are present, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cv.getUint16(e, true);
      const len = cv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (uncompressed === U32_MAX) (uncompressed = u64(cv, q)), (q += 8);
        if (compressedSize === U32_MAX) (compressedSize = u64(cv, q)), (q += 8);
        if (localHeaderOffset === U32_MAX) localHeaderOffset = u64(cv, q);
      }
      e += 4 + len;
    }
    entries.push({ name, method, compressedSize, size: uncompressed, crc32: crc, localHeaderOffset, dataOffset: -1 });
    p = extraEnd + commentLen;
  }

  for (const entry of entries) {
    if (entry.localHeaderOffset + 30 > size) truncated(`entry '${entry.name}' starts past the end of the file`);
    const lh = dataView(await readExactly(handle, path, entry.localHeaderOffset, 30));
    if (lh.getUint32(0, true) !== LOCAL_SIG) truncated(`no local header for entry '${entry.name}' at offset ${entry.localHeaderOffset}`);
    entry.dataOffset = entry.localHeaderOffset + 30 + lh.getUint16(26, true) + lh.getUint16(28, true);
    if (entry.dataOffset + entry.compressedSize > cdOffset) {
      truncated(`entry '${entry.name}' ends at byte ${entry.dataOffset + entry.compressedSize}, past the central directory at ${cdOffset}`);
    }
  }
  return entries;
}
