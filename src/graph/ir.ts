/**
 * The graph IR: named values, nodes in topological order, graph inputs/outputs, and initializers whose
 * bytes are produced lazily. It is deliberately the same shape as an ONNX graph (so serialising is a
 * walk), but it belongs to us: autodiff, fusion choices and shape checks all work on this, not on protobuf.
 */
import type { FileExtent } from '../formats/types.js';

/** Element types the graphs use. */
export type ElemType = 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

/** A dimension: a number, or a symbol (e.g. 'B', 'H') that is fixed only at run time. */
export type Dim = number | string;

export type Shape = readonly Dim[];

export interface ValueInfo {
  name: string;
  dtype: ElemType;
  shape: Shape;
}

export type AttrValue = number | string | readonly number[] | readonly string[] | { float: number } | { floats: readonly number[] } | TensorAttr;

export interface TensorAttr {
  tensor: { dtype: ElemType; dims: readonly number[]; data: Uint8Array };
}

export interface Node {
  op: string;
  /** Operator domain: '' for the ONNX standard set, 'com.microsoft' for ORT contrib ops. */
  domain: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attrs: Readonly<Record<string, AttrValue>>;
  name: string;
}

/**
 * An initializer's bytes, produced when the graph is serialised. `extent` lets the serialiser point ONNX
 * external data straight at a checkpoint file (no copy) when the stored bytes already have the right type.
 */
export interface InitializerSource {
  bytes(): Promise<Uint8Array>;
  extent?: FileExtent;
}

export interface Initializer extends ValueInfo {
  shape: readonly number[];
  source: InitializerSource;
}

export interface GraphIR {
  name: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodes: Node[];
  initializers: Initializer[];
  /** Every named value's type (inputs, initializers, node outputs). */
  values: Map<string, ValueInfo>;
  /** Opset versions by domain. */
  opsets: Record<string, number>;
}

export const ELEM_BYTES: Record<ElemType, number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** ONNX TensorProto.DataType codes of the element types (Cast's `to`, tensor and value types). */
export const ONNX_DTYPE: Record<ElemType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  bfloat16: 16,
};

/** ONNX's float64 code: not an ElemType (no graph value is declared float64), but Cast may target it. */
export const ONNX_FLOAT64 = 11;
