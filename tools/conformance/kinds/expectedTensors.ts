/**
 * Comparing graph outputs with a case's `expected.*` tensors, shared by the head and loss kinds.
 *
 * Some official outputs are NaN by construction: the Sinkhorn-Knopp teacher computes exp(logits / temp)
 * without subtracting the max, so logits above ~88·temp overflow float32 and the targets, the loss and
 * its gradient become NaN in PyTorch too. compareClose matches an expected NaN only by a NaN at the same
 * place (we follow the official arithmetic), everything else with the case's tolerances.
 * Also: running a case's graph and folding its comparisons into one result.
 */
import type { GraphBuilder } from '../../../src/graph/builder.js';
import { compileGraph } from '../../../src/graph/runtime.js';
import type { Tensor } from '../../../src/core/tensor.js';
import { combine, compareClose, type Comparison } from '../compare.js';
import type { CaseEntry } from '../manifest.js';
import type { CaseFile } from '../caseFile.js';
import type { CaseResult } from '../kind.js';

/** compareClose, naming both shapes when the sizes differ. */
export function compareExpected(name: string, actual: Tensor, expected: Tensor, atol: number, rtol: number): Comparison {
  if (actual.data.length !== expected.data.length) {
    return { ok: false, maxAbsError: Infinity, firstBad: 0, detail: `${name}: shape [${actual.shape.join(', ')}], expected [${expected.shape.join(', ')}]` };
  }
  return compareClose(name, actual.data as Float32Array, expected.data as Float32Array, atol, rtol);
}

/** One result line for a case (weight `format`, '-' when none applies), folding all its comparisons. */
export function caseResult(c: CaseEntry, comparisons: readonly Comparison[], options: { format?: string; notes?: readonly string[] } = {}): CaseResult {
  const verdict = combine(comparisons);
  const detail = [verdict.detail, ...(options.notes ?? [])].filter((s): s is string => !!s).join('; ');
  return { id: c.id, kind: c.kind, format: options.format ?? '-', status: verdict.ok ? 'pass' : 'fail', maxAbsError: verdict.maxAbsError, ...(detail ? { detail } : {}) };
}

/** The tensors `expected.<name>` the case file has, by name (names it lacks are left out). */
export async function readExpected(f: CaseFile, names: readonly string[]): Promise<Record<string, Tensor>> {
  const expected: Record<string, Tensor> = {};
  for (const name of names) if (f.has(`expected.${name}`)) expected[name] = await f.float32(`expected.${name}`);
  return expected;
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

/**
 * Runs the graph and compares each output named in `expected` (a scalar loss against a [1] tensor: same
 * values); an expected tensor the graph does not produce is a failed comparison.
 */
export async function runAndCompare(
  c: CaseEntry,
  g: GraphBuilder,
  feeds: Record<string, Tensor>,
  expected: Record<string, Tensor>,
): Promise<CaseResult> {
  const compiled = await compileGraph(g.build());
  let out: Record<string, Tensor>;
  try {
    out = await compiled.run(feeds);
  } finally {
    await compiled.dispose();
  }
  const atol = c.atol ?? 1e-5;
  const rtol = c.rtol ?? 1e-4;
  const comparisons = Object.entries(expected).map(([name, e]): Comparison => {
    const actual = out[name];
    if (!actual) return { ok: false, maxAbsError: Infinity, firstBad: 0, detail: `${name}: not produced by the graph` };
    return compareExpected(name, actual, e, atol, rtol);
  });
  const note = nanNote(expected);
  return caseResult(c, comparisons, { notes: note ? [note] : [] });
}
