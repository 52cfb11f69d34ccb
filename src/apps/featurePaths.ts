/**
 * The file names beside a feature file that cannot hold them (`.npy`): `<out>.paths.txt`, one path per line in
 * row order, so that a skipped image does not silently shift which row is which.
 */
import { writeFile, rename, rm } from 'node:fs/promises';

/** The sidecar of a feature file: `<out>.paths.txt`. */
export function pathsSidecarOf(out: string): string {
  return `${out}.paths.txt`;
}

/** Writes `<out>.paths.txt` (atomically): the paths of the rows of `out`, one per line. */
export async function writePathsSidecar(out: string, paths: readonly string[]): Promise<string> {
  for (const p of paths) if (/[\r\n]/.test(p)) throw new Error(`${p}: a file name with a line break cannot be listed in ${pathsSidecarOf(out)}`);
  const file = pathsSidecarOf(out);
  const tmp = `${file}.partial-${process.pid}`;
  try {
    await writeFile(tmp, paths.map((p) => `${p}\n`).join(''));
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return file;
}
