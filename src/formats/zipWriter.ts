/**
 * A streaming ZIP writer of "stored" (uncompressed) entries laid out as PyTorch's writer lays them out:
 * each entry's data is aligned (64 bytes by default) by padding the local header with an extra field of id
 * "FB", so that tensors can be memory-mapped in place. ZIP64 records are added when an offset or size
 * needs them (or always, on request, to exercise readers).
 */
import { crc32 } from '../core/crc32.js';
import { writeAtomically, writeFully } from '../core/fileio.js';
import type { FileHandle } from 'node:fs/promises';

export interface ZipWriterOptions {
  /** Data alignment in bytes (torch uses 64). */
  align?: number;
  /** 'always' writes ZIP64 records even for small archives. */
  zip64?: 'auto' | 'always';
}

interface Written {
  name: Buffer;
  size: number;
  crc: number;
  offset: number;
}

const U32_MAX = 0xffffffff;
// 1980-01-01 00:00: a fixed date keeps the output byte-identical from run to run, as torch does.
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/** General-purpose bit 11: without it, readers decode non-ASCII names as code page 437. */
function utf8Flag(name: Buffer): number {
  return name.some((b) => b >= 0x80) ? 0x800 : 0;
}

export class ZipWriter {
  private readonly written: Written[] = [];
  private position = 0;
  private readonly align: number;
  private readonly force64: boolean;

  constructor(private readonly handle: FileHandle, options: ZipWriterOptions = {}) {
    this.align = options.align ?? 64;
    this.force64 = options.zip64 === 'always';
  }

  async add(name: string, data: Uint8Array): Promise<void> {
    const nameBytes = Buffer.from(name, 'utf8');
    const offset = this.position;
    const big = this.force64 || data.length >= U32_MAX;
    const zip64Len = big ? 4 + 16 : 0;
    const start = offset + 30 + nameBytes.length + zip64Len + 4;
    const pad = (this.align - (start % this.align)) % this.align;
    const header = Buffer.alloc(30 + nameBytes.length + zip64Len + 4 + pad);
    const crc = crc32(data);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(big ? 45 : 20, 4);
    header.writeUInt16LE(utf8Flag(nameBytes), 6);
    header.writeUInt16LE(0, 8);
    header.writeUInt16LE(0, 10);
    header.writeUInt16LE(DOS_DATE, 12);
    header.writeUInt32LE(crc, 14);
    header.writeUInt32LE(big ? U32_MAX : data.length, 18);
    header.writeUInt32LE(big ? U32_MAX : data.length, 22);
    header.writeUInt16LE(nameBytes.length, 26);
    header.writeUInt16LE(zip64Len + 4 + pad, 28);
    nameBytes.copy(header, 30);
    let e = 30 + nameBytes.length;
    if (big) {
      header.writeUInt16LE(0x0001, e);
      header.writeUInt16LE(16, e + 2);
      header.writeBigUInt64LE(BigInt(data.length), e + 4);
      header.writeBigUInt64LE(BigInt(data.length), e + 12);
      e += 20;
    }
    header.write('FB', e, 'latin1');
    header.writeUInt16LE(pad, e + 2);
    await writeFully(this.handle, header);
    await writeFully(this.handle, data);
    this.position += header.length + data.length;
    this.written.push({ name: nameBytes, size: data.length, crc, offset });
  }

  /** Writes the central directory and end records; the handle stays open. */
  async finish(): Promise<void> {
    const cdOffset = this.position;
    const parts: Buffer[] = [];
    for (const w of this.written) {
      const bigSize = this.force64 || w.size >= U32_MAX;
      const bigOffset = this.force64 || w.offset >= U32_MAX;
      const extraLen = bigSize || bigOffset ? 4 + (bigSize ? 16 : 0) + (bigOffset ? 8 : 0) : 0;
      const h = Buffer.alloc(46 + w.name.length + extraLen);
      h.writeUInt32LE(0x02014b50, 0);
      h.writeUInt16LE(extraLen ? 45 : 20, 4);
      h.writeUInt16LE(extraLen ? 45 : 20, 6);
      h.writeUInt16LE(utf8Flag(w.name), 8);
      h.writeUInt16LE(DOS_DATE, 14);
      h.writeUInt32LE(w.crc, 16);
      h.writeUInt32LE(bigSize ? U32_MAX : w.size, 20);
      h.writeUInt32LE(bigSize ? U32_MAX : w.size, 24);
      h.writeUInt16LE(w.name.length, 28);
      h.writeUInt16LE(extraLen, 30);
      h.writeUInt32LE(bigOffset ? U32_MAX : w.offset, 42);
      w.name.copy(h, 46);
      if (extraLen) {
        let e = 46 + w.name.length;
        h.writeUInt16LE(0x0001, e);
        h.writeUInt16LE(extraLen - 4, e + 2);
        e += 4;
        if (bigSize) {
          h.writeBigUInt64LE(BigInt(w.size), e);
          h.writeBigUInt64LE(BigInt(w.size), e + 8);
          e += 16;
        }
        if (bigOffset) h.writeBigUInt64LE(BigInt(w.offset), e);
      }
      parts.push(h);
    }
    const cd = Buffer.concat(parts);
    const count = this.written.length;
    const need64 = this.force64 || count >= 0xffff || cdOffset >= U32_MAX || cd.length >= U32_MAX;
    const tail: Buffer[] = [cd];
    if (need64) {
      const rec = Buffer.alloc(56);
      rec.writeUInt32LE(0x06064b50, 0);
      rec.writeBigUInt64LE(44n, 4);
      rec.writeUInt16LE(45, 12);
      rec.writeUInt16LE(45, 14);
      rec.writeBigUInt64LE(BigInt(count), 24);
      rec.writeBigUInt64LE(BigInt(count), 32);
      rec.writeBigUInt64LE(BigInt(cd.length), 40);
      rec.writeBigUInt64LE(BigInt(cdOffset), 48);
      const loc = Buffer.alloc(20);
      loc.writeUInt32LE(0x07064b50, 0);
      loc.writeBigUInt64LE(BigInt(cdOffset + cd.length), 8);
      loc.writeUInt32LE(1, 16);
      tail.push(rec, loc);
    }
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(need64 ? 0xffff : count, 8);
    eocd.writeUInt16LE(need64 ? 0xffff : count, 10);
    eocd.writeUInt32LE(need64 ? U32_MAX : cd.length, 12);
    eocd.writeUInt32LE(need64 ? U32_MAX : cdOffset, 16);
    tail.push(eocd);
    const all = Buffer.concat(tail);
    await writeFully(this.handle, all);
    this.position += all.length;
  }
}

/** Creates `path` atomically from the entries `fill` adds. */
export async function writeZip(path: string, fill: (zip: ZipWriter) => Promise<void>, options?: ZipWriterOptions): Promise<void> {
  await writeAtomically(path, async (handle) => {
    const zip = new ZipWriter(handle, options);
    await fill(zip);
    await zip.finish();
  });
}
