/**
 * Comparing graph outputs with a case's `expected.*` tensors, shared by the head and loss kinds.
 *
 * Some official outputs are NaN by construction: the Sinkhorn-Knopp teacher computes exp(logits / temp)
 * without subtracting the max, so logits above ~88·temp overflow float32 and the targets, the loss and
 * its gradient become NaN in PyTorch too. An expected NaN is matched by a NaN at the same place (we follow
 * the official arithmetic); everything else goes through compareClose with the case's tolerances.
 * Also: running a case's graph and folding its comparisons into one result.
 */
import type { GraphBuilder } from '../../graph/builder.js';
import { compileGraph } from '../../graph/runtime.js';
import type { Tensor } from '../../tensor.js';
import { combine, compareClose, type Comparison } from '../compare.js';
import type { CaseEntry } from '../manifest.js';
import type { CaseResult } from '../kind.js';

export function compareExpected(name: string, actual: Tensor, expected: Tensor, atol: number, rtol: number): Comparison {
  const a = actual.data as Float32Array;
  const e = expected.data as Float32Array;
  if (a.length !== e.length) {
    return { ok: false, maxAbsError: Infinity, firstBad: 0, detail: `${name}: shape [${actual.shape.join(', ')}], expected [${expected.shape.join(', ')}]` };
  }
  const finite: number[] = [];
  for (let i = 0; i < e.length; i++) {
    if (Number.isNaN(e[i]!)) {
      if (!Number.isNaN(a[i]!)) return { ok: false, maxAbsError: Infinity, firstBad: i, detail: `${name}[${i}] = ${a[i]}, expected NaN (official float32 overflow)` };
    } else {
      finite.push(i);
    }
  }
  if (finite.length === e.length) return compareClose(name, a, e, atol, rtol);
  const c = compareClose(name, finite.map((i) => a[i]!), finite.map((i) => e[i]!), atol, rtol);
  return c.ok ? c : { ...c, firstBad: finite[c.firstBad]!, detail: `${c.detail} (among the ${finite.length} non-NaN values)` };
}

/** One result line for a case without weight formats, folding all comparisons. */
export function caseResult(c: CaseEntry, comparisons: readonly Comparison[], notes: readonly string[] = []): CaseResult {
  const verdict = combine(comparisons);
  const detail = [verdict.detail, ...notes].filter((s): s is string => !!s).join('; ');
  return { id: c.id, kind: c.kind, format: '-', status: verdict.ok ? 'pass' : 'fail', maxAbsError: verdict.maxAbsError, ...(detail ? { detail } : {}) };
}

/** How many expected values are NaN across tensors (reported so a NaN-only match is visible). */
export function nanNote(expected: Record<string, Tensor>): string | null {
  const parts = Object.entries(expected)
    .map(([k, t]) => [k, Array.from(t.data as Float32Array).filter(Number.isNaN).length] as const)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}: ${n} NaN`);
  return parts.length ? `expected values that are NaN in the official output, matched as NaN — ${parts.join(', ')}` : null;
}

/** A numeric case parameter, with the official default when the case omits it. */
export function param(c: CaseEntry, name: string, fallback: number): number {
  const v = c[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw new Error(`case ${c.id}: '${name}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/** Runs the graph and compares each output named in `expected` (a scalar loss against a [1] tensor: same values). */
export async function runAndCompare(
  c: CaseEntry,
  g: GraphBuilder,
  feeds: Record<string, Tensor>,
  expected: Record<string, Tensor>,
): Promise<ReturnType<typeof caseResult>> {
  const compiled = await compileGraph(g.build());
  let out: Record<string, Tensor>;
  try {
    out = await compiled.run(feeds);
  } finally {
    await compiled.dispose();
  }
  const atol = c.atol ?? 1e-5;
  const rtol = c.rtol ?? 1e-4;
  const comparisons = Object.entries(expected).map(([name, e]) => compareExpected(name, out[name]!, e, atol, rtol));
  const note = nanNote(expected);
  return caseResult(c, comparisons, note ? [note] : []);
}
