/**
 * Finite-difference checking of graph gradients.
 *
 * The forward graph runs in float32 (onnxruntime), so the scalar whose derivative we take is formed on the
 * host in float64: L = Σ r·y with a fixed random cotangent r. Its float32 noise is then only the rounding
 * of y itself, ≈ 1e-7·|y| per element, which a central difference with step h turns into ≈ 1e-7·√n/h.
 * With h = 1e-2 on O(1) inputs that is ≈ 1e-5·√n. The truncation error of the plain central difference,
 * h²/6·L''' ≈ 1e-5, is removed by Richardson extrapolation over steps h and h/2 ((4·D(h/2) − D(h))/3 has
 * an O(h⁴) error), so what is left is the rounding noise. Hence |fd − ad| <= atol + rtol·|ad| with
 * atol = 2e-4·scale (scale: the largest |ad| of that tensor, at least 1) and rtol = 1e-3; a wrong rule
 * gives errors of the order of the gradient itself, i.e. hundreds of times more. Inputs keep away from
 * kinks (Relu, Abs, Max) by more than the largest step, where a finite difference would not be defined.
 */
import assert from 'node:assert/strict';
import { gradients } from '../../../src/graph/autodiff.js';
import { GraphBuilder, type Sym } from '../../../src/graph/builder.js';
import { compileGraph, type CompiledGraph } from '../../../src/graph/runtime.js';
import { Tensor } from '../../../src/core/tensor.js';

/** Deterministic uniform numbers in [lo, hi) (xorshift32): tests must not depend on Math.random. */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

export function rand(shape: readonly number[], seed: number, lo = -1, hi = 1): Tensor<'float32'> {
  return Tensor.float32(uniform(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape);
}

/** Values in ±[lo, hi]: away from 0 by at least lo (for kinks at zero). */
export function awayFromZero(shape: readonly number[], seed: number, lo = 0.1, hi = 1): Tensor<'float32'> {
  const t = rand(shape, seed, lo, hi);
  const sign = uniform(t.size, seed + 7);
  for (let i = 0; i < t.size; i++) if (sign[i]! < 0) t.data[i] = -t.data[i]!;
  return t;
}

export interface GradCheck {
  /** Declares the graph inputs it needs and returns the output y. */
  build(g: GraphBuilder): Sym;
  feeds: Record<string, Tensor>;
  /** Names of the float inputs to check (all their elements, or a sample of `maxElements`). */
  wrt: readonly string[];
  h?: number;
  atol?: number;
  rtol?: number;
  maxElements?: number;
}

export interface GradCheckResult {
  /** Largest |fd − ad| over everything checked. */
  maxError: number;
  /** The autodiff gradients by input name. */
  grads: Map<string, Float32Array>;
  checked: number;
}

function dot64(r: Float32Array, y: Float32Array): number {
  let s = 0;
  for (let i = 0; i < r.length; i++) s += r[i]! * y[i]!;
  return s;
}

/** Element indices to perturb: all, or a spread-out deterministic sample. */
function sample(n: number, max: number, seed: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const picks = new Set<number>();
  const u = uniform(max * 4, seed, 0, 1);
  for (let i = 0; picks.size < max && i < u.length; i++) picks.add(Math.floor(u[i]! * n));
  return [...picks].sort((a, b) => a - b);
}

export async function compileForward(build: (g: GraphBuilder) => Sym): Promise<CompiledGraph> {
  const g = new GraphBuilder('fd_forward');
  g.output('y', build(g));
  return compileGraph(g.build());
}

/** Runs the autodiff graph (forward + backward with seed r) and checks it against finite differences. */
export async function checkGradients(c: GradCheck): Promise<GradCheckResult> {
  const h = c.h ?? 1e-2;
  const forward = await compileForward(c.build);
  try {
    const y0 = (await forward.run(c.feeds))['y']!;
    const r = rand(y0.shape, 1234, -1, 1);

    const g = new GraphBuilder('fd_backward');
    const y = c.build(g);
    const seed = g.input('seed_grad_y', 'float32', y.shape);
    const grads = gradients(g, [{ value: y, grad: seed }], c.wrt);
    g.output('y', y);
    c.wrt.forEach((name, i) => g.output(`grad_${i}`, grads.get(name)!));
    const backward = await compileGraph(g.build());
    const out = await backward.run({ ...c.feeds, seed_grad_y: r });
    await backward.dispose();
    // The forward of the differentiated graph is the plain forward.
    assert.deepEqual(out['y']!.shape, y0.shape);

    const L = async (name: string, index: number, delta: number): Promise<number> => {
      const base = c.feeds[name] as Tensor<'float32'>;
      const data = Float32Array.from(base.data);
      data[index] = data[index]! + delta;
      const res = await forward.run({ ...c.feeds, [name]: new Tensor('float32', data, base.shape) });
      return dot64(r.data, res['y']!.data as Float32Array);
    };

    const result: GradCheckResult = { maxError: 0, grads: new Map(), checked: 0 };
    for (let k = 0; k < c.wrt.length; k++) {
      const name = c.wrt[k]!;
      const ad = out[`grad_${k}`]!;
      const base = c.feeds[name]!;
      assert.deepEqual(ad.shape, base.shape, `gradient of '${name}' has the input's shape`);
      const adData = ad.data as Float32Array;
      result.grads.set(name, adData);
      const scale = Math.max(1, ...Array.from(adData, Math.abs));
      const atol = (c.atol ?? 2e-4) * scale;
      const rtol = c.rtol ?? 1e-3;
      for (const i of sample(base.size, c.maxElements ?? 64, k + 1)) {
        // Exact float32 steps: the perturbation actually applied is what we divide by.
        const x = (base.data as Float32Array)[i]!;
        const step = (d: number): number => Math.fround(x + d) - x;
        const central = async (d: number): Promise<number> => {
          const [up, down] = [step(d), step(-d)];
          return ((await L(name, i, up)) - (await L(name, i, down))) / (up - down);
        };
        const fd = (4 * (await central(h / 2)) - (await central(h))) / 3;
        const err = Math.abs(fd - adData[i]!);
        result.maxError = Math.max(result.maxError, err);
        result.checked++;
        assert.ok(err <= atol + rtol * Math.abs(adData[i]!), `d/d${name}[${i}]: autodiff ${adData[i]} vs finite difference ${fd} (|err| ${err.toExponential(2)})`);
      }
    }
    return result;
  } finally {
    await forward.dispose();
  }
}
