/** Reading the tensors of one case file as host tensors. */
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { Tensor } from '../../src/core/tensor.js';

export class CaseFile {
  private constructor(private readonly file: SafetensorsFile) {}

  static async open(path: string): Promise<CaseFile> {
    return new CaseFile(await SafetensorsFile.open(path));
  }

  has(key: string): boolean {
    return this.file.entry(key) !== undefined;
  }

  keys(prefix = ''): string[] {
    return this.file.keys().filter((k) => k.startsWith(prefix));
  }

  async float32(key: string): Promise<Tensor<'float32'>> {
    const e = this.file.entry(key);
    if (!e) throw new Error(`${this.file.path}: no tensor '${key}'`);
    return Tensor.float32(await this.file.readFloat32(key), e.shape);
  }

  /** A U8 / BOOL tensor as bool. */
  async bool(key: string): Promise<Tensor<'bool'>> {
    const e = this.file.entry(key);
    if (!e) throw new Error(`${this.file.path}: no tensor '${key}'`);
    if (e.dtype !== 'U8' && e.dtype !== 'BOOL') throw new Error(`${this.file.path}: '${key}' is ${e.dtype}, expected U8/BOOL`);
    return new Tensor('bool', await this.file.readRaw(key), e.shape);
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

/** Opens a case file, runs `fn`, and always closes it. */
export async function withCaseFile<T>(path: string, fn: (f: CaseFile) => Promise<T>): Promise<T> {
  const f = await CaseFile.open(path);
  try {
    return await fn(f);
  } finally {
    await f.close();
  }
}
