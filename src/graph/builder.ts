/**
 * Tracing: a GraphBuilder records ops on symbolic tensors (`Sym`: a name, a dtype, a shape whose dims may be
 * symbols) into a GraphIR. Nothing runs here; execution is the runtime's business (JAX-style separation).
 */
import { DTYPE_BYTES, floatToHalf, type DType } from '../core/dtype.js';
import { type AttrValue, type Dim, type GraphIR, type InitializerSource, type Node, type Shape, type ValueInfo } from './ir.js';

export class Sym {
  constructor(
    readonly g: GraphBuilder,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  /** The size of axis `i` (negative counts from the end). */
  dim(i: number): Dim {
    return this.shape[i < 0 ? this.rank + i : i]!;
  }
}

export interface OpOutput {
  dtype: DType;
  shape: Shape;
}

export class GraphBuilder {
  private readonly ir: GraphIR;
  private counter = 0;
  private readonly constCache = new Map<string, Sym>();

  constructor(name: string, opsets: Record<string, number> = { '': 17 }) {
    this.ir = { name, inputs: [], outputs: [], nodes: [], initializers: [], values: new Map(), opsets: { ...opsets } };
  }

  private declare(info: ValueInfo): Sym {
    if (this.ir.values.has(info.name)) throw new Error(`graph '${this.ir.name}': value '${info.name}' is defined twice`);
    this.ir.values.set(info.name, info);
    return new Sym(this, info.name, info.dtype, info.shape);
  }

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  input(name: string, dtype: DType, shape: Shape): Sym {
    const s = this.declare({ name, dtype, shape });
    this.ir.inputs.push({ name, dtype, shape });
    return s;
  }

  /** A named weight; `source` yields its bytes (in `dtype`) when the graph is serialised. */
  initializer(name: string, dtype: DType, shape: readonly number[], source: InitializerSource): Sym {
    const s = this.declare({ name, dtype, shape });
    this.ir.initializers.push({ name, dtype, shape, source });
    return s;
  }

  hasValue(name: string): boolean {
    return this.ir.values.has(name);
  }

  value(name: string): Sym {
    const info = this.ir.values.get(name);
    if (!info) throw new Error(`graph '${this.ir.name}': no value named '${name}'`);
    return new Sym(this, info.name, info.dtype, info.shape);
  }

  /** A small constant tensor stored inline (shapes, axes, scalars); identical constants are shared. */
  constant(dtype: 'float32' | 'float16' | 'int64' | 'bool', shape: readonly number[], values: readonly number[]): Sym {
    const key = `${dtype}|${shape.join(',')}|${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const bytes = new Uint8Array(values.length * DTYPE_BYTES[dtype]);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => {
      if (dtype === 'float32') view.setFloat32(i * 4, v, true);
      else if (dtype === 'float16') view.setUint16(i * 2, floatToHalf(v), true);
      else if (dtype === 'int64') view.setBigInt64(i * 8, BigInt(v), true);
      else view.setUint8(i, v ? 1 : 0);
    });
    const name = this.fresh('const');
    const s = this.declare({ name, dtype, shape });
    this.ir.initializers.push({ name, dtype, shape, source: { bytes: async () => bytes } });
    this.constCache.set(key, s);
    return s;
  }

  scalar(value: number, dtype: 'float32' | 'float16' | 'int64' = 'float32'): Sym {
    return this.constant(dtype, [], [value]);
  }

  ints(values: readonly number[]): Sym {
    return this.constant('int64', [values.length], values);
  }

  /** Emits one node; `outs` gives each output's type (shape inference is done by the op helpers). */
  node(op: string, inputs: readonly (Sym | null)[], attrs: Record<string, AttrValue>, outs: readonly OpOutput[], domain = ''): Sym[] {
    for (const x of inputs) {
      if (x && x.g !== this) throw new Error(`op ${op}: input '${x.name}' belongs to another graph`);
    }
    const outputs = outs.map((o) => this.declare({ name: this.fresh(op.toLowerCase()), dtype: o.dtype, shape: o.shape }));
    const node: Node = {
      op,
      domain,
      inputs: inputs.map((x) => (x ? x.name : '')),
      outputs: outputs.map((o) => o.name),
      attrs,
      name: this.fresh(`n_${op}`),
    };
    this.ir.nodes.push(node);
    return outputs;
  }

  node1(op: string, inputs: readonly (Sym | null)[], attrs: Record<string, AttrValue>, out: OpOutput, domain = ''): Sym {
    return this.node(op, inputs, attrs, [out], domain)[0]!;
  }

  /** Marks `x` as a graph output under `name` (an Identity node gives it the public name). */
  output(name: string, x: Sym): void {
    if (this.ir.outputs.some((o) => o.name === name)) throw new Error(`graph '${this.ir.name}': output '${name}' declared twice`);
    const info = this.declare({ name, dtype: x.dtype, shape: x.shape });
    this.ir.nodes.push({ op: 'Identity', domain: '', inputs: [x.name], outputs: [name], attrs: {}, name: this.fresh('n_out') });
    this.ir.outputs.push(info);
  }

  useOpset(domain: string, version: number): void {
    this.ir.opsets[domain] = Math.max(this.ir.opsets[domain] ?? 0, version);
  }

  /** The graph recorded so far (read-only use: autodiff walks it before any output is declared). */
  get recorded(): Readonly<GraphIR> {
    return this.ir;
  }

  build(): GraphIR {
    if (this.ir.outputs.length === 0) throw new Error(`graph '${this.ir.name}' has no outputs`);
    return this.ir;
  }
}

export function shapeToString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}
