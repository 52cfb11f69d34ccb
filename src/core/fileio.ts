/** Positional reads that either fill the whole buffer or fail with a message naming the file. */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';

// One read() call is capped just under 2 GiB by libuv; loop in 1 GiB steps so any length works.
const STEP = 1 << 30;

export async function readExactly(handle: FileHandle, path: string, position: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await readInto(handle, path, position, buf);
  return buf;
}

/** Fills `target` from `position` on (for reading straight into memory that already exists). */
export async function readInto(handle: FileHandle, path: string, position: number, target: Uint8Array): Promise<void> {
  const length = target.length;
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(target, done, Math.min(length - done, STEP), position + done);
    if (bytesRead === 0) {
      throw new Error(`${path}: unexpected end of file (wanted ${length} bytes at offset ${position}, got ${done}; truncated?)`);
    }
    done += bytesRead;
  }
}

export async function writeFully(handle: FileHandle, data: Uint8Array, position?: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const len = Math.min(data.length - done, STEP);
    const at = position === undefined ? null : position + done;
    const { bytesWritten } = await handle.write(data, done, len, at);
    done += bytesWritten;
  }
}

/**
 * Writes through a temporary sibling and renames it into place, so that an interrupted conversion never
 * leaves a plausible-looking but truncated checkpoint under the final name.
 */
export async function writeAtomically(path: string, write: (handle: FileHandle) => Promise<void>): Promise<void> {
  const tmp = `${path}.partial-${process.pid}`;
  const handle = await open(tmp, 'w');
  try {
    await write(handle);
    await handle.close();
  } catch (e) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await rename(tmp, path);
}

/** Where a tensor's raw little-endian, C-contiguous bytes lie in a file, when they do. */
export interface FileExtent {
  path: string;
  offset: number;
  length: number;
}

/**
 * Opens a file for reading, refusing anything that is not a regular file — without blocking: a FIFO opened
 * plainly waits forever for a writer, and a device may never end. O_NONBLOCK makes the open return at once
 * (it changes nothing for regular files), and the check is on the opened descriptor, so no race with a swap.
 * Errors name the path.
 */
export async function openRegularFile(path: string): Promise<FileHandle> {
  // open(2)'s own errors (ENOENT, EACCES, ELOOP) already name the path: they are passed on as they are.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new Error(`${path}: not a regular file (${fileKind(info)}); refusing to read it`);
    return handle;
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Reads a whole regular file of at most `maxBytes` (errors name the path). */
export async function readRegularFile(path: string, maxBytes: number): Promise<Uint8Array> {
  const handle = await openRegularFile(path);
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new Error(`${path}: ${size} bytes, more than the ${maxBytes} such a file may have`);
    return await readExactly(handle, path, 0, size);
  } finally {
    await handle.close();
  }
}

function fileKind(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  return 'not a file';
}
