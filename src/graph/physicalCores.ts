/**
 * How many intra-op threads a session gets when the caller does not say: the physical cores this process
 * may run on. onnxruntime's own default is meant to be the same, but on some machines it comes out as 1
 * (measured on a 2-core AMD EPYC VM, whose sysfs topology says 2 cores of 1 thread each: a session with the
 * default used one core, 1.9× slower on a GEMM than with 2 threads; bench/ortGemm.ts). SMT siblings are
 * counted once, since they share the FMA units a GEMM saturates.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Logical CPUs listed in a Linux cpulist string such as "0-3,8,10-11". */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`cpu list: cannot read '${part}' in '${list.trim()}'`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let c = a; c <= b; c++) cpus.push(c);
  }
  return cpus;
}

/**
 * Physical cores among the logical CPUs `allowed` (this process's affinity), from `topology(cpu)` giving a
 * core's identity (package and core id); logical CPUs with the same identity are one core.
 */
export function countPhysicalCores(allowed: readonly number[], topology: (cpu: number) => string | undefined): number {
  const cores = new Set<string>();
  for (const cpu of allowed) cores.add(topology(cpu) ?? `cpu${cpu}`);
  return cores.size;
}

let cached: number | undefined;

/** Physical cores this process may use (Linux: affinity and sysfs topology; elsewhere the logical CPU count). */
export function physicalCores(): number {
  if (cached !== undefined) return cached;
  const logical = availableParallelism();
  let n = logical;
  if (process.platform === 'linux') {
    try {
      const status = readFileSync('/proc/self/status', 'utf8');
      const list = /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1];
      const allowed = list ? parseCpuList(list) : [...Array(logical).keys()];
      const read = (cpu: number, f: string) => readFileSync(`/sys/devices/system/cpu/cpu${cpu}/topology/${f}`, 'utf8').trim();
      n = countPhysicalCores(allowed, (cpu) => {
        try {
          return `${read(cpu, 'physical_package_id')}:${read(cpu, 'core_id')}`;
        } catch {
          return undefined;
        }
      });
    } catch {
      n = logical;
    }
  }
  cached = Math.max(1, Math.min(n, logical));
  return cached;
}
