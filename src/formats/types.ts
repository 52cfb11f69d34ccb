/**
 * What every weight format adapter (safetensors, PyTorch `.pth`, Hugging Face folders) exposes: a lazy,
 * by-key view of a state dict under the *official* DINOv2 key names. Tensors are read one at a time so
 * that a 4.5 GB ViT-g never has to sit in JS memory whole.
 */

import type { StorageDType } from '../core/dtype.js';
import type { FileExtent } from '../core/fileio.js';

export type { StorageDType } from '../core/dtype.js';
export { BYTES_PER_ELEMENT } from '../core/dtype.js';
export type { FileExtent } from '../core/fileio.js';

export interface TensorEntry {
  key: string;
  dtype: StorageDType;
  shape: number[];
  /** Set when the bytes are stored contiguously in one file (lets ONNX external data point at them). */
  extent?: FileExtent;
}

export type WeightFormat = 'safetensors' | 'pth' | 'hf';

export interface WeightSource {
  readonly path: string;
  readonly format: WeightFormat;
  /** Free-form metadata (safetensors `__metadata__`, HF `config.json`, ...). */
  readonly metadata: Record<string, unknown>;
  keys(): string[];
  entry(key: string): TensorEntry | undefined;
  /** Raw bytes in the stored dtype, C-contiguous, little-endian. */
  readRaw(key: string): Promise<Uint8Array>;
  /** The tensor converted to float32 (F16/BF16/F64/ints widened or narrowed exactly as PyTorch's `.float()`). */
  readFloat32(key: string): Promise<Float32Array>;
  close(): Promise<void>;
}
