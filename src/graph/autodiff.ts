/**
 * Reverse-mode automatic differentiation over the graph IR. `gradients` walks the nodes recorded so far
 * backwards from the loss (or from seeded outputs) and records the gradient computation INTO THE SAME
 * builder, so forward and backward are one graph that onnxruntime runs (and optimises) as a whole.
 * Anything can be differentiated for: graph inputs, initializers (weights by official key), intermediate
 * values. Only nodes on a path from a requested value to the loss get gradient rules; integer and bool
 * values (shapes, indices, masks) never carry gradients. The rules emit float32 constants: graphs are
 * differentiated in float32 (float16 storage cast to float32 at load is fine; float16 compute is not).
 */
import type { GraphBuilder, Sym } from './builder.js';
import type { DType } from '../core/dtype.js';
import type { Node } from './ir.js';
import { elementwiseRules } from './gradRules/elementwise.js';
import { zerosLike } from './gradRules/emit.js';
import { linalgRules } from './gradRules/linalg.js';
import { normalizationRules } from './gradRules/normalization.js';
import { reduceRules } from './gradRules/reduce.js';
import type { GradRule } from './gradRules/rule.js';
import { shapeRules } from './gradRules/shape.js';
import * as op from './ops.js';

/** Every op with a gradient rule, by ONNX op type (standard domain). */
export const GRAD_RULES: Readonly<Record<string, GradRule>> = {
  ...elementwiseRules,
  ...shapeRules,
  ...linalgRules,
  ...reduceRules,
  ...normalizationRules,
};

/**
 * The ops of graph/ops.ts that have no gradient rule, on purpose: integer, boolean or piecewise-constant
 * results, and onnxruntime's inference-only contrib kernels. Together with GRAD_RULES they cover the op set
 * (a test checks it), so a missing rule is a decision, not an omission.
 */
export const NOT_DIFFERENTIABLE: ReadonlySet<string> = new Set([
  'ArgMax', 'ArgMin', 'TopK', 'Equal', 'Less', 'GreaterOrEqual', 'And', 'Range', 'Shape', 'EyeLike',
  // Used by inference-only graphs (gradient clipping's norm, the dense heads' upsampling, value clamps).
  'ReduceSumSquare', 'ConvTranspose', 'Resize', 'Clip',
  'Attention', 'MultiHeadAttention', 'DynamicQuantizeMatMul', 'DynamicQuantizeLinear', 'MatMulIntegerToFloat', 'QuantizeLinear', 'ReduceMin',
]);

/** An output and the gradient flowing into it (e.g. a `grad_y` graph input): the backward of a VJP. */
export interface GradientSeed {
  value: Sym;
  grad: Sym;
}

const FLOAT_TYPES: ReadonlySet<DType> = new Set(['float32', 'float16', 'bfloat16']);

/** Values marked by stopGradient, per graph. */
const stopped = new WeakMap<GraphBuilder, Set<string>>();

/**
 * x, through which no gradient flows (torch's `.detach()` / `no_grad` for teacher targets): an Identity
 * node whose output `gradients` treats as a constant.
 */
export function stopGradient(x: Sym): Sym {
  const y = op.identity(x);
  let set = stopped.get(x.g);
  if (!set) stopped.set(x.g, (set = new Set()));
  set.add(y.name);
  return y;
}

/** A value whose gradient is given by a rule over chosen inputs instead of the nodes that compute it. */
interface CustomGradient {
  inputs: readonly Sym[];
  rule: (gy: Sym) => readonly Sym[];
}

/** Values with a custom gradient, per graph. */
const custom = new WeakMap<GraphBuilder, Map<string, CustomGradient>>();

/**
 * y, whose gradient with respect to `inputs` is `rule(dL/dy)` (jax.custom_vjp in spirit). The nodes
 * between the inputs and y are not differentiated, so the backward pass keeps none of their outputs:
 * for a composite such as GELU (six elementwise nodes) the rule recomputes what it needs from the
 * inputs, and training stores x alone instead of four intermediates of x's size.
 */
export function customGradient(y: Sym, inputs: readonly Sym[], rule: (gy: Sym) => readonly Sym[]): Sym {
  const nodes = y.g.recorded.nodes;
  let producer: Node | undefined;
  for (let i = nodes.length - 1; i >= 0 && !producer; i--) if (nodes[i]!.outputs.includes(y.name)) producer = nodes[i];
  if (!producer || producer.outputs.length !== 1) {
    throw new Error(`customGradient: '${y.name}' must be the only output of a node (not a graph input or one of several outputs)`);
  }
  let map = custom.get(y.g);
  if (!map) custom.set(y.g, (map = new Map()));
  map.set(y.name, { inputs, rule });
  return y;
}

/**
 * A custom rule only accounts for its declared inputs: a differentiated value reaching the output by
 * another way (a weight used inside the region) would lose its gradient silently, so it is an error.
 */
function checkCustomRegion(node: Node, c: CustomGradient, dependent: ReadonlySet<string>, targets: ReadonlySet<string>, producers: ReadonlyMap<string, Node>): void {
  const declared = new Set(c.inputs.map((x) => x.name));
  const seen = new Set<string>();
  const stack = [...node.inputs];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (v === '' || seen.has(v) || declared.has(v) || !dependent.has(v)) continue;
    seen.add(v);
    const p = producers.get(v);
    if (targets.has(v) || !p) {
      throw new Error(`autodiff: the custom gradient of '${node.outputs[0]}' ignores '${v}', a differentiated value that reaches it without passing through its inputs`);
    }
    stack.push(...p.inputs);
  }
}

function isScalarLike(x: Sym): boolean {
  return x.shape.every((d) => d === 1);
}

/**
 * dL/dv for each v in `wrt`, as values of the same graph (keyed by v's name). `of` is a scalar loss (seed
 * 1) or a list of seeds {value, grad} — the gradient with respect to several outputs at once is the sum
 * of their vector-Jacobian products. A value the loss does not depend on gets zeros of its shape.
 */
export function gradients(g: GraphBuilder, of: Sym | readonly GradientSeed[], wrt: readonly (Sym | string)[]): Map<string, Sym> {
  const seeds: GradientSeed[] = Array.isArray(of) ? [...(of as readonly GradientSeed[])] : [];
  if (!Array.isArray(of)) {
    const loss = of as Sym;
    if (!isScalarLike(loss)) throw new Error(`autodiff: loss '${loss.name}' has shape [${loss.shape.join(', ')}]; a non-scalar output needs an explicit seed gradient`);
    if (!FLOAT_TYPES.has(loss.dtype)) throw new Error(`autodiff: loss '${loss.name}' is ${loss.dtype}, not a float`);
    seeds.push({ value: loss, grad: g.constant('float32', loss.shape as number[], [1]) });
  }
  for (const s of seeds) {
    if (s.value.g !== g || s.grad.g !== g) throw new Error('autodiff: seeds must belong to this graph');
    if (s.grad.rank !== s.value.rank) throw new Error(`autodiff: seed for '${s.value.name}' has rank ${s.grad.rank}, the value ${s.value.rank}`);
  }
  const targets = wrt.map((v) => (typeof v === 'string' ? g.value(v) : v));
  for (const t of targets) {
    if (!FLOAT_TYPES.has(t.dtype)) throw new Error(`autodiff: cannot differentiate with respect to '${t.name}' (${t.dtype})`);
  }

  const ir = g.recorded;
  // Snapshot: the nodes recorded from here on are the backward pass itself.
  const nodes: readonly Node[] = ir.nodes.slice();
  const stop = stopped.get(g) ?? new Set<string>();
  const customs = custom.get(g) ?? new Map<string, CustomGradient>();
  // The custom rule of a node's (single) output, if any.
  const customOf = (n: Node): CustomGradient | undefined => (n.outputs.length === 1 ? customs.get(n.outputs[0]!) : undefined);
  const producers = new Map<string, Node>();
  for (const n of nodes) for (const o of n.outputs) producers.set(o, n);
  const isFloat = (name: string): boolean => name !== '' && FLOAT_TYPES.has(ir.values.get(name)!.dtype);

  // Forward: values that depend on a requested value through float paths not cut by stopGradient.
  const dependent = new Set(targets.map((t) => t.name));
  for (const n of nodes) {
    if (!n.inputs.some((i) => dependent.has(i))) continue;
    for (const o of n.outputs) if (isFloat(o) && !stop.has(o)) dependent.add(o);
  }
  // Backward: values the seeded outputs depend on.
  const contributes = new Set(seeds.map((s) => s.value.name));
  const active: Node[] = [];
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    if (!n.outputs.some((o) => contributes.has(o) && dependent.has(o))) continue;
    active.push(n);
    const c = customOf(n);
    for (const i of c ? c.inputs.map((x) => x.name) : n.inputs) if (i !== '') contributes.add(i);
  }

  // Gradient contributions per value, summed when a value feeds several consumers.
  const partial = new Map<string, Sym>();
  const accumulate = (name: string, grad: Sym): void => {
    const prev = partial.get(name);
    partial.set(name, prev ? op.add(prev, grad) : grad);
  };
  for (const s of seeds) if (dependent.has(s.value.name)) accumulate(s.value.name, s.grad);

  for (const n of active) {
    const gradOutputs = n.outputs.map((o) => partial.get(o) ?? null);
    if (gradOutputs.every((x) => x === null)) continue;
    const c = customOf(n);
    if (c) {
      checkCustomRegion(n, c, dependent, new Set(targets.map((t) => t.name)), producers);
      const grads = c.rule(gradOutputs[0]!);
      if (grads.length !== c.inputs.length) throw new Error(`autodiff: the custom gradient of '${n.outputs[0]}' gave ${grads.length} gradients for ${c.inputs.length} inputs`);
      c.inputs.forEach((x, i) => {
        if (dependent.has(x.name)) accumulate(x.name, grads[i]!);
      });
      continue;
    }
    const rule = n.domain === '' ? GRAD_RULES[n.op] : undefined;
    if (!rule) {
      const why = NOT_DIFFERENTIABLE.has(n.op) ? 'is not differentiable' : 'has no gradient rule';
      throw new Error(`autodiff: ${n.domain ? `${n.domain}.` : ''}${n.op} ('${n.name}') ${why}, and lies between a differentiated value and the loss`);
    }
    const needs = n.inputs.map((i) => dependent.has(i));
    const grads = rule({
      g,
      node: n,
      inputs: n.inputs.map((i) => (i === '' ? null : g.value(i))),
      outputs: n.outputs.map((o) => g.value(o)),
      gradOutputs,
      needs,
    });
    n.inputs.forEach((name, i) => {
      const gi = grads[i];
      if (gi && needs[i]) accumulate(name, gi);
    });
  }

  const result = new Map<string, Sym>();
  for (const t of targets) result.set(t.name, partial.get(t.name) ?? zerosLike(t));
  return result;
}
