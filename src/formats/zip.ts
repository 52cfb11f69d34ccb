/**
 * A minimal read-only ZIP reader, enough for torch.save archives: central directory (ZIP64 included, which
 * torch writes once a checkpoint passes 4 GiB), "stored" entries (what torch writes) and "deflated" entries
 * (what re-zipping tools write). For stored entries the absolute file offset of the data is resolved from the
 * local header — its extra field differs from the central one (torch pads it to align data to 64 bytes) — so
 * tensors can be referenced in place.
 */
import type { FileHandle } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { openRegularFile, readExactly } from '../core/fileio.js';
import { crc32 } from '../core/crc32.js';
import { short } from '../core/text.js';

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

/** 64-bit little-endian field as a number; values past 2^53 cannot occur in a real file (they fail the size checks). */
function u64(view: DataView, at: number): number {
  const v = view.getBigUint64(at, true);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** Chunk for streamed CRC checks. */
const CRC_CHUNK = 16 << 20;

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class ZipReader {
  private readonly verified = new Set<string>();

  private constructor(
    readonly path: string,
    readonly handle: FileHandle,
    readonly size: number,
    private readonly byName: Map<string, ZipEntry>,
  ) {}

  static async open(path: string): Promise<ZipReader> {
    const handle = await openRegularFile(path);
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

  /**
   * The whole entry, inflated if need be and checked against its CRC. Inflation stops at the declared size
   * (a zip bomb is refused after at most `entry.size` bytes), and `maxBytes` refuses entries declared larger
   * than the caller can need before anything is read.
   */
  async read(entry: ZipEntry, maxBytes = Infinity): Promise<Uint8Array> {
    if (entry.size > maxBytes) throw new Error(`${this.path}: entry '${entry.name}' declares ${entry.size} bytes, more than the ${maxBytes} it may hold`);
    const raw = await readExactly(this.handle, this.path, entry.dataOffset, entry.compressedSize);
    let data: Uint8Array;
    if (entry.method === ZIP_STORED) data = raw;
    else if (entry.method === ZIP_DEFLATED) {
      try {
        // One byte past the declared size is enough to tell that the entry inflates to more than it says.
        data = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size + 1) });
      } catch (e) {
        if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
          throw new Error(`${this.path}: entry '${entry.name}' inflates to more than its declared ${entry.size} bytes (corrupt or a zip bomb)`);
        }
        throw new Error(`${this.path}: entry '${entry.name}' does not inflate (${(e as Error).message})`);
      }
    } else throw new Error(`${this.path}: entry '${entry.name}' uses compression method ${entry.method}; only stored and deflated are supported`);
    if (data.length !== entry.size) {
      throw new Error(`${this.path}: entry '${entry.name}' should hold ${entry.size} bytes but holds ${data.length}`);
    }
    if (crc32(data) !== entry.crc32) throw new Error(`${this.path}: entry '${entry.name}' is corrupt (CRC mismatch)`);
    this.verified.add(entry.name);
    return data;
  }

  /**
   * A byte range of a stored entry; when it is the whole entry and not checked yet, its CRC is checked on the
   * bytes read (one read), else the entry is verified first (streamed once).
   */
  async readChecked(entry: ZipEntry, start: number, length: number): Promise<Uint8Array> {
    if (entry.method === ZIP_STORED && start === 0 && length === entry.size && !this.verified.has(entry.name)) {
      const data = await readExactly(this.handle, this.path, entry.dataOffset, length);
      if (crc32(data) !== entry.crc32) throw new Error(`${this.path}: entry '${short(entry.name)}' is corrupt (CRC mismatch)`);
      this.verified.add(entry.name);
      return data;
    }
    return this.readRange(entry, start, length);
  }

  /** Checks a stored entry's CRC by streaming it (once per entry; later calls return at once). */
  async verify(entry: ZipEntry): Promise<void> {
    if (this.verified.has(entry.name)) return;
    if (entry.method !== ZIP_STORED) {
      await this.read(entry);
      return;
    }
    let crc = 0;
    for (let at = 0; at < entry.size; at += CRC_CHUNK) {
      crc = crc32(await readExactly(this.handle, this.path, entry.dataOffset + at, Math.min(CRC_CHUNK, entry.size - at)), crc);
    }
    if (crc !== entry.crc32) throw new Error(`${this.path}: entry '${entry.name}' is corrupt (CRC mismatch)`);
    this.verified.add(entry.name);
  }

  /** A byte range of a stored entry, read in place; the entry's CRC is checked once, on its first read. */
  async readRange(entry: ZipEntry, start: number, length: number): Promise<Uint8Array> {
    if (entry.method !== ZIP_STORED) throw new Error(`${this.path}: entry '${entry.name}' is compressed; it cannot be read by range`);
    if (start < 0 || start + length > entry.size) {
      throw new Error(`${this.path}: range [${start}, ${start + length}) lies outside entry '${entry.name}' of ${entry.size} bytes`);
    }
    await this.verify(entry);
    return readExactly(this.handle, this.path, entry.dataOffset + start, length);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}


function overlap(path: string, a: ZipEntry, b: ZipEntry): never {
  throw new Error(`${path}: entries '${short(a.name)}' and '${short(b.name)}' overlap in the file; refusing a malformed archive`);
}

/** More entries than any checkpoint has (one per storage): refused before reading their local headers. */
const MAX_ENTRIES = 1_000_000;

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

  if (count > MAX_ENTRIES) throw new Error(`${path}: the zip directory declares ${count} entries, more than the ${MAX_ENTRIES} a checkpoint may have`);
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
    if (p + 46 + nameLen + extraLen + commentLen > cd.length) truncated(`central directory entry ${n} runs past the directory's end`);
    const name = Buffer.from(cd.subarray(p + 46, p + 46 + nameLen)).toString('utf8');
    if (flags & 1) throw new Error(`${path}: entry '${short(name)}' is encrypted`);
    // ZIP64 extended information: only the fields saturated in the fixed header are present, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cv.getUint16(e, true);
      const len = cv.getUint16(e + 2, true);
      const end = e + 4 + len;
      if (end > extraEnd) truncated(`entry '${short(name)}' has an extra field of ${len} bytes running past its extra data`);
      if (id === 0x0001) {
        let q = e + 4;
        const field = (what: string): number => {
          if (q + 8 > end) truncated(`entry '${short(name)}' has a ZIP64 extra field too short for its ${what} (${len} bytes)`);
          q += 8;
          return u64(cv, q - 8);
        };
        if (uncompressed === U32_MAX) uncompressed = field('size');
        if (compressedSize === U32_MAX) compressedSize = field('compressed size');
        if (localHeaderOffset === U32_MAX) localHeaderOffset = field('header offset');
      }
      e = end;
    }
    entries.push({ name, method, compressedSize, size: uncompressed, crc32: crc, localHeaderOffset, dataOffset: -1 });
    p = extraEnd + commentLen;
  }

  const names = new Set<string>();
  for (const e of entries) {
    if (names.has(e.name)) throw new Error(`${path}: entry '${short(e.name)}' appears twice in the zip directory; refusing an ambiguous archive`);
    names.add(e.name);
  }
  // Before reading any local header: entries are at least 30 + compressedSize bytes long, so these overlap.
  const sorted = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (sorted[i]!.localHeaderOffset < prev.localHeaderOffset + 30 + prev.compressedSize) overlap(path, prev, sorted[i]!);
  }
  for (const entry of entries) {
    if (entry.localHeaderOffset + 30 > size) truncated(`entry '${short(entry.name)}' starts past the end of the file`);
    const lh = dataView(await readExactly(handle, path, entry.localHeaderOffset, 30));
    if (lh.getUint32(0, true) !== LOCAL_SIG) truncated(`no local header for entry '${short(entry.name)}' at offset ${entry.localHeaderOffset}`);
    entry.dataOffset = entry.localHeaderOffset + 30 + lh.getUint16(26, true) + lh.getUint16(28, true);
    if (entry.dataOffset + entry.compressedSize > cdOffset) {
      truncated(`entry '${short(entry.name)}' ends at byte ${entry.dataOffset + entry.compressedSize}, past the central directory at ${cdOffset}`);
    }
    if (entry.method === ZIP_STORED && entry.compressedSize !== entry.size) {
      throw new Error(`${path}: stored entry '${short(entry.name)}' declares ${entry.size} bytes but occupies ${entry.compressedSize}`);
    }
  }
  // Each entry (local header through data) must have its own bytes: overlapping entries make one file
  // mean two things (and let a small archive declare the same bytes many times over).
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (sorted[i]!.localHeaderOffset < prev.dataOffset + prev.compressedSize) overlap(path, prev, sorted[i]!);
  }
  return entries;
}

/**
 * Checks a whole archive once: its directory (as `ZipReader.open`) and every entry's CRC-32, streamed for
 * stored entries; deflated entries (never written by torch) are inflated up to 1 GiB each.
 */
export async function verifyZipArchive(path: string): Promise<void> {
  const zip = await ZipReader.open(path);
  try {
    for (const entry of zip.entries()) {
      if (entry.method === ZIP_STORED) await zip.verify(entry);
      else await zip.read(entry, 1 << 30);
    }
  } finally {
    await zip.close();
  }
}
