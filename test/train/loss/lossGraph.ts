/** Running a small loss graph once: outputs by name. */
import { GraphBuilder, type Sym } from '../../../src/graph/builder.js';
import { compileGraph } from '../../../src/graph/runtime.js';
import type { Tensor } from '../../../src/core/tensor.js';

export async function runGraph(build: (g: GraphBuilder) => Record<string, Sym>, feeds: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const g = new GraphBuilder('loss_test');
  for (const [name, s] of Object.entries(build(g))) g.output(name, s);
  const c = await compileGraph(g.build());
  try {
    const out = await c.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await c.dispose();
  }
}

export function close(actual: ArrayLike<number>, expected: readonly number[], rtol = 1e-5, atol = 1e-6): boolean {
  if (actual.length !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (!(Math.abs(actual[i]! - expected[i]!) <= atol + rtol * Math.abs(expected[i]!))) return false;
  return true;
}
