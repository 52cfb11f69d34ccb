/**
 * Random-access bytes without a file system: what the safetensors reader needs from wherever a checkpoint
 * lives (a file handle in Node, a File/Blob, a URL read with Range requests or an ArrayBuffer in a page).
 */
export interface ByteSource {
  /** Names the source in error messages (a path, URL or file name). */
  readonly name: string;
  /** Total length in bytes. */
  readonly size: number;
  /** Exactly `length` bytes from `offset` on; fails (naming the source) if fewer exist. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** Bytes already in memory. */
export function bytesSource(bytes: Uint8Array | ArrayBuffer, name = '<bytes>'): ByteSource {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return {
    name,
    size: data.length,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > data.length) {
        throw new Error(`${name}: unexpected end of data (wanted ${length} bytes at offset ${offset}, have ${data.length}; truncated?)`);
      }
      return data.subarray(offset, offset + length);
    },
  };
}
