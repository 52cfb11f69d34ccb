/** The contract of one gradient rule: given a recorded node and the gradients of its outputs, emit the
 * gradients of its inputs into the same graph. */
import type { GraphBuilder, Sym } from '../builder.js';
import type { Node } from '../ir.js';

export interface GradContext {
  g: GraphBuilder;
  node: Node;
  /** The node's inputs in order; null for omitted optional inputs (''). */
  inputs: readonly (Sym | null)[];
  outputs: readonly Sym[];
  /** dL/d(output i), or null when no path from that output reaches the loss. At least one is set. */
  gradOutputs: readonly (Sym | null)[];
  /** Whether input i needs a gradient (it depends on a value we differentiate for, and is a float). */
  needs: readonly boolean[];
}

/** Returns dL/d(input i) for each input (null/undefined where none is needed or it is zero). */
export type GradRule = (c: GradContext) => readonly (Sym | null | undefined)[];

/** The gradient of a single-output node's output (rules for such ops call this). */
export function gradOut(c: GradContext): Sym {
  const gy = c.gradOutputs[0];
  if (!gy) throw new Error(`autodiff: ${c.node.op} '${c.node.name}' has no output gradient`);
  return gy;
}

export function input(c: GradContext, i: number): Sym {
  const x = c.inputs[i];
  if (!x) throw new Error(`autodiff: ${c.node.op} '${c.node.name}' lacks input ${i}`);
  return x;
}

export function attrInt(c: GradContext, name: string, fallback: number): number {
  const v = c.node.attrs[name];
  return typeof v === 'number' ? v : fallback;
}

export function attrFloat(c: GradContext, name: string, fallback: number): number {
  const v = c.node.attrs[name];
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'float' in v) return v.float;
  return fallback;
}

export function attrInts(c: GradContext, name: string): readonly number[] | undefined {
  const v = c.node.attrs[name];
  return Array.isArray(v) && (v.length === 0 || typeof v[0] === 'number') ? (v as readonly number[]) : undefined;
}

export function unsupported(c: GradContext, why: string): never {
  throw new Error(`autodiff: cannot differentiate ${c.node.op} '${c.node.name}': ${why}`);
}
