/** Runs the CLI in-process, capturing what it writes to stdout and stderr. */
import { runCli } from '../../src/cli/main.js';

export async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // The test runner reports a finished test on this process's stdout a little later; let that out first, or
  // the capture below swallows it and the test disappears from the results.
  await new Promise((resolve) => setImmediate(resolve));
  const out: string[] = [];
  const err: string[] = [];
  const sink = (s: string[]) => (chunk: string | Uint8Array): boolean => (s.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString()), true);
  const saved = [process.stdout.write, process.stderr.write] as const;
  process.stdout.write = sink(out) as typeof process.stdout.write;
  process.stderr.write = sink(err) as typeof process.stderr.write;
  try {
    return { code: await runCli(args), stdout: out.join(''), stderr: err.join('') };
  } finally {
    [process.stdout.write, process.stderr.write] = saved;
  }
}
