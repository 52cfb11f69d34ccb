/**
 * Element-wise ops. Binary ops broadcast, so each input's gradient is summed back to its own shape;
 * unary ops reuse their forward output where the derivative is cheapest in terms of it (exp, sqrt,
 * sigmoid), which also matches what PyTorch's autograd saves.
 */
import * as op from '../ops.js';
import type { Sym } from '../builder.js';
import { sumToShape } from './broadcast.js';
import { greater, greaterOrEqual, sign } from './emit.js';
import { gradOut, input, unsupported, type GradContext, type GradRule } from './rule.js';

const FLOAT_CODES: Record<number, true> = { 1: true, 10: true, 16: true };

function binary(c: GradContext, da: (gy: Sym) => Sym, db: (gy: Sym) => Sym): (Sym | null)[] {
  const gy = gradOut(c);
  return [c.needs[0] ? sumToShape(da(gy), input(c, 0)) : null, c.needs[1] ? sumToShape(db(gy), input(c, 1)) : null];
}

function zero(c: GradContext): Sym {
  return c.g.scalar(0);
}

export const elementwiseRules: Record<string, GradRule> = {
  Add: (c) => binary(c, (gy) => gy, (gy) => gy),
  Sub: (c) => binary(c, (gy) => gy, (gy) => op.neg(gy)),
  Mul: (c) => binary(c, (gy) => op.mul(gy, input(c, 1)), (gy) => op.mul(gy, input(c, 0))),
  // d(a/b)/db = -a/b² = -y/b, using the forward output instead of squaring b.
  Div: (c) => binary(c, (gy) => op.div(gy, input(c, 1)), (gy) => op.neg(op.div(op.mul(gy, c.outputs[0]!), input(c, 1)))),
  Pow: (c) =>
    binary(
      c,
      (gy) => {
        const [a, b] = [input(c, 0), input(c, 1)];
        return op.mul(gy, op.mul(b, op.pow(a, op.sub(b, c.g.scalar(1)))));
      },
      (gy) => op.mul(gy, op.mul(c.outputs[0]!, op.log(input(c, 0)))),
    ),
  // clamp_min semantics: on a tie the first operand takes the gradient (torch's clamp_min(x, eps) passes
  // it to x when x >= eps).
  Max: (c) => {
    if (c.inputs.length !== 2) unsupported(c, 'only the two-operand form is differentiable here');
    const first = greaterOrEqual(input(c, 0), input(c, 1));
    return binary(c, (gy) => op.where(first, gy, zero(c)), (gy) => op.where(first, zero(c), gy));
  },
  Min: (c) => {
    if (c.inputs.length !== 2) unsupported(c, 'only the two-operand form is differentiable here');
    const first = greaterOrEqual(input(c, 1), input(c, 0));
    return binary(c, (gy) => op.where(first, gy, zero(c)), (gy) => op.where(first, zero(c), gy));
  },
  // The condition is data, not a function of the inputs: it routes the gradient and gets none.
  Where: (c) => {
    const gy = gradOut(c);
    const cond = input(c, 0);
    return [
      null,
      c.needs[1] ? sumToShape(op.where(cond, gy, zero(c)), input(c, 1)) : null,
      c.needs[2] ? sumToShape(op.where(cond, zero(c), gy), input(c, 2)) : null,
    ];
  },

  Identity: (c) => [gradOut(c)],
  Neg: (c) => [op.neg(gradOut(c))],
  Abs: (c) => [op.mul(gradOut(c), sign(input(c, 0)))],
  Relu: (c) => [op.where(greater(input(c, 0), zero(c)), gradOut(c), zero(c))],
  Exp: (c) => [op.mul(gradOut(c), c.outputs[0]!)],
  Log: (c) => [op.div(gradOut(c), input(c, 0))],
  Sqrt: (c) => [op.div(op.mul(gradOut(c), c.g.scalar(0.5)), c.outputs[0]!)],
  Sigmoid: (c) => {
    const y = c.outputs[0]!;
    return [op.mul(gradOut(c), op.mul(y, op.sub(c.g.scalar(1), y)))];
  },
  Tanh: (c) => {
    const y = c.outputs[0]!;
    return [op.mul(gradOut(c), op.sub(c.g.scalar(1), op.mul(y, y)))];
  },
  Reciprocal: (c) => {
    const y = c.outputs[0]!;
    return [op.neg(op.mul(gradOut(c), op.mul(y, y)))];
  },
  // d erf(x)/dx = 2/√π · exp(−x²)
  Erf: (c) => {
    const x = input(c, 0);
    return [op.mul(gradOut(c), op.mul(op.exp(op.neg(op.mul(x, x))), c.g.scalar(2 / Math.sqrt(Math.PI))))];
  },
  // A float-to-float cast passes the gradient back in the input's type; casts from ints carry none.
  Cast: (c) => {
    const x = input(c, 0);
    const to = c.node.attrs['to'];
    if (typeof to !== 'number' || !FLOAT_CODES[to]) return [null];
    return [x.dtype === c.outputs[0]!.dtype ? gradOut(c) : op.cast(gradOut(c), x.dtype)];
  },
  // Piecewise-constant: zero gradient almost everywhere (nothing is emitted).
  Sign: () => [null],
  Floor: () => [null],
  Ceil: () => [null],
  Round: () => [null],
};
