#!/usr/bin/env node
/**
 * `npm run conformance -- DIR [--kind PREFIX]... [--json FILE]`: one line per case and weight format, the
 * kinds not implemented listed as skipped, and a closing `N passed, M failed, K skipped` line. Exits 1
 * when any case fails, 2 on usage errors.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { CaseResult } from './kind.js';
import { runConformance } from './run.js';

function formatError(e: number): string {
  return Number.isFinite(e) ? e.toExponential(2) : String(e);
}

export function formatResult(r: CaseResult): string {
  const status = r.status.toUpperCase().padEnd(4);
  const line = `${status}  ${r.id}  [${r.format}]  max|err| ${formatError(r.maxAbsError)}`;
  return r.detail && r.status !== 'pass' ? `${line}  (${r.detail})` : line;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { kind: { type: 'string', multiple: true }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length !== 1) {
    console.error('usage: npm run conformance -- DIR [--kind PREFIX]... [--json FILE]');
    return values.help ? 0 : 2;
  }
  const results = await runConformance(positionals[0]!, {
    kinds: values.kind ?? [],
    onResult: (r) => {
      if (r.status !== 'skip') console.log(formatResult(r));
    },
  });
  const skipped = results.filter((r) => r.status === 'skip');
  const skippedKinds = [...new Set(skipped.map((r) => r.kind))];
  if (skippedKinds.length) console.log(`SKIP  kinds not implemented yet: ${skippedKinds.join(', ')} (${skipped.length} cases)`);
  if (values.json) {
    const records = results.map(({ id, kind, format, status, maxAbsError }) => ({ id, kind, format, status, maxAbsError: Number.isFinite(maxAbsError) ? maxAbsError : null }));
    await writeFile(values.json, JSON.stringify(records, null, 2) + '\n');
  }
  const passed = results.filter((r) => r.status === 'pass').length;
  const failed = results.filter((r) => r.status === 'fail').length;
  console.log(`${passed} passed, ${failed} failed, ${skipped.length} skipped`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`conformance: ${(e as Error).message}`);
    process.exit(2);
  },
);
