/** Compares a source's keys and shapes with what a model expects, reporting every problem at once. */
import type { WeightSource } from './types.js';

export interface CheckOptions {
  /** How many problems to spell out (the rest are counted). */
  maxProblems?: number;
  /** Keys that may be present without the model using them (e.g. `classifier.*`). */
  ignoreUnexpected?: (key: string) => boolean;
}

const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

export function checkStateDict(source: WeightSource, expected: ReadonlyMap<string, readonly number[]>, options: CheckOptions = {}): void {
  const problems: string[] = [];
  for (const [key, shape] of expected) {
    const e = source.entry(key);
    if (!e) problems.push(`missing key '${key}' (the model expects ${fmt(shape)})`);
    else if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      problems.push(`key '${key}' has shape ${fmt(e.shape)} but the model expects ${fmt(shape)}`);
    }
  }
  for (const key of source.keys()) {
    if (!expected.has(key) && !options.ignoreUnexpected?.(key)) {
      problems.push(`unexpected key '${key}' with shape ${fmt(source.entry(key)?.shape ?? [])}, which the model does not have`);
    }
  }
  if (problems.length === 0) return;
  if (problems.length === 1) throw new Error(`${source.path}: ${problems[0]}`);
  const max = options.maxProblems ?? 20;
  const shown = problems.slice(0, max).map((p) => `\n  ${p}`).join('');
  const more = problems.length > max ? `\n  … and ${problems.length - max} more` : '';
  throw new Error(`${source.path}: ${problems.length} problems with the state dict:${shown}${more}`);
}
