/**
 * Device-specific rewrites of a built graph, applied by the runtimes (graph/runtime.ts, web/runtime.ts)
 * just before a graph is handed to onnxruntime; the graph the model code builds stays device-independent,
 * and on the CPU it runs unchanged.
 *
 * 'webgpu': onnxruntime 1.30's WebGPU execution provider (the same C++ provider in onnxruntime-node and
 * onnxruntime-web) has no LogSoftmax kernel, so onnxruntime runs each LogSoftmax on the CPU with copies to
 * the host and back — in a training step, the DINO and iBOT cross-entropies over [rows, K] logits, four
 * times (test/web/webgpuTrainStep.test.ts logs the placement). Each LogSoftmax(x, axis) becomes
 *   d = x − ReduceMax(x, axis, keepdims);  d − Log(ReduceSum(Exp(d), axis, keepdims))
 * which is how onnxruntime's CPU kernel evaluates it (max-shifted, so nothing overflows), from ops the
 * WebGPU provider has.
 */
import type { GraphIR, Node, ValueInfo } from './ir.js';

/** The graph to give onnxruntime for `device`: `ir` itself where nothing needs rewriting. */
export function lowerForDevice(ir: GraphIR, device: string): GraphIR {
  if (device !== 'webgpu' || !ir.nodes.some((n) => n.op === 'LogSoftmax' && n.domain === '')) return ir;
  return lowerLogSoftmax(ir);
}

/** Every standard-domain LogSoftmax of `ir` rewritten into max-shifted Exp / ReduceSum / Log (a new graph; `ir` is untouched). */
export function lowerLogSoftmax(ir: GraphIR): GraphIR {
  const values = new Map(ir.values);
  const initializers = [...ir.initializers];
  const nodes: Node[] = [];
  const taken = new Set<string>([...ir.values.keys(), ...ir.nodes.map((n) => n.name)]);
  const fresh = (base: string): string => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
  for (const n of ir.nodes) {
    if (n.op !== 'LogSoftmax' || n.domain !== '') {
      nodes.push(n);
      continue;
    }
    const x = ir.values.get(n.inputs[0]!);
    if (!x) throw new Error(`lowerLogSoftmax: graph '${ir.name}': node '${n.name}' reads '${n.inputs[0]}', which has no type`);
    const rank = x.shape.length;
    const rawAxis = n.attrs['axis'] ?? -1;
    if (typeof rawAxis !== 'number') throw new Error(`lowerLogSoftmax: graph '${ir.name}': node '${n.name}' has a non-integer axis`);
    const axis = rawAxis < 0 ? rawAxis + rank : rawAxis;
    if (axis < 0 || axis >= rank) throw new Error(`lowerLogSoftmax: graph '${ir.name}': node '${n.name}' has axis ${rawAxis} for rank ${rank}`);
    const reduced: ValueInfo['shape'] = x.shape.map((d, i) => (i === axis ? 1 : d));
    const value = (suffix: string, shape: ValueInfo['shape']): string => {
      const name = fresh(`${n.outputs[0]}_${suffix}`);
      values.set(name, { name, dtype: x.dtype, shape });
      return name;
    };
    const node = (op: string, inputs: string[], outputs: string[], attrs: Node['attrs'] = {}): void => {
      nodes.push({ op, domain: '', inputs, outputs, attrs, name: fresh(`${n.name}_${op}`) });
    };
    const axes = fresh(`${n.outputs[0]}_axes`);
    const axesBytes = new Uint8Array(BigInt64Array.of(BigInt(axis)).buffer);
    values.set(axes, { name: axes, dtype: 'int64', shape: [1] });
    initializers.push({ name: axes, dtype: 'int64', shape: [1], source: { bytes: async () => axesBytes } });
    const max = value('max', reduced);
    const shifted = value('shifted', x.shape);
    const exps = value('exp', x.shape);
    const sum = value('sum', reduced);
    const logSum = value('logsum', reduced);
    // ReduceMax takes its axes as an attribute up to opset 17, as an input from 18.
    if ((ir.opsets[''] ?? 17) >= 18) node('ReduceMax', [x.name, axes], [max], { keepdims: 1 });
    else node('ReduceMax', [x.name], [max], { axes: [axis], keepdims: 1 });
    node('Sub', [x.name, max], [shifted]);
    node('Exp', [shifted], [exps]);
    node('ReduceSum', [exps, axes], [sum], { keepdims: 1 });
    node('Log', [sum], [logSum]);
    node('Sub', [shifted, logSum], [n.outputs[0]!]);
  }
  return { ...ir, nodes, initializers, values };
}
