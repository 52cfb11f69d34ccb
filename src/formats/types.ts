/**
 * What every weight format adapter (safetensors, PyTorch `.pth`, Hugging Face folders) exposes: a lazy,
 * by-key view of a state dict under the *official* DINOv2 key names. Tensors are read one at a time so
 * that a 4.5 GB ViT-g never has to sit in JS memory whole.
 */

/** Storage dtypes, named as safetensors names them. */
export type StorageDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const BYTES_PER_ELEMENT: Record<StorageDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Where a tensor's raw little-endian, C-contiguous bytes lie in a file, when they do. */
export interface FileExtent {
  path: string;
  offset: number;
  length: number;
}

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
