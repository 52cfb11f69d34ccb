/**
 * The graph IR: named values, nodes in topological order, graph inputs/outputs, and initializers whose
 * bytes are produced lazily. It is deliberately the same shape as an ONNX graph (so serialising is a
 * walk), but it belongs to us: autodiff, fusion choices and shape checks all work on this, not on protobuf.
 */
import type { FileExtent } from '../core/fileio.js';

/** Element types the graphs use. */
import type { DType } from '../core/dtype.js';

/** A dimension: a number, or a symbol (e.g. 'B', 'H') that is fixed only at run time. */
export type Dim = number | string;

export type Shape = readonly Dim[];

export interface ValueInfo {
  name: string;
  dtype: DType;
  shape: Shape;
}

export type AttrValue = number | string | readonly number[] | readonly string[] | { float: number } | { floats: readonly number[] } | TensorAttr;

export interface TensorAttr {
  tensor: { dtype: DType; dims: readonly number[]; data: Uint8Array };
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



