/**
 * Named fault points for crash tests: `DINOV2_FAULT_POINT=<name>` (or `<name>@<n>`, the n-th time it is
 * reached, from 1) makes the process kill itself with SIGKILL exactly there — no cleanup, no finally blocks,
 * as a power cut or `kill -9` would. Unset (always, outside tests), a point costs one environment lookup.
 */
const counts = new Map<string, number>();

export function faultPoint(name: string): void {
  const spec = process.env['DINOV2_FAULT_POINT'];
  if (!spec) return;
  const at = spec.lastIndexOf('@');
  const target = at > 0 ? spec.slice(0, at) : spec;
  if (target !== name) return;
  const n = (counts.get(name) ?? 0) + 1;
  counts.set(name, n);
  if (n === (at > 0 ? Number(spec.slice(at + 1)) : 1)) process.kill(process.pid, 'SIGKILL');
}
