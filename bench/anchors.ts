/**
 * What every bench prints first, so that its numbers can be read at all: the CPU (model and the flags that
 * change which kernels run), the measured FMA peak, the machine's load, and how the PyTorch peer is set up
 * (which BLAS library and kernel torch actually multiplies with, and how fast a bare product runs).
 *
 * The PyTorch environment: Debian's python3-torch links the generic `libblas.so.3`, which is netlib's
 * reference loops unless an optimized BLAS (libopenblas0-pthread) provides the alternative; and this
 * machine's environment pins `OPENBLAS_CORETYPE`/`OPENBLAS_L2_SIZE` for older OpenBLAS builds, which makes
 * OpenBLAS 0.3.21 pick its Haswell kernels on AVX-512 CPUs. `torchEnv()` unsets both for the PyTorch
 * commands only (never for tests or CI) and gives OpenBLAS one thread per core.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
export const TORCH_PYTHON = process.env['TORCH_PYTHON'] ?? '/usr/bin/python3';

export interface CpuInfo {
  model: string;
  cores: number;
  /** The flags that decide onnxruntime's and OpenBLAS's kernels: present ones only. */
  flags: string[];
}

const FLAGS_THAT_MATTER = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'avx512_fp16', 'amx_tile', 'amx_bf16', 'amx_int8'];

export function cpuInfo(): CpuInfo {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux
  }
  const field = (name: string) => text.split('\n').find((l) => l.startsWith(name))?.split(':')[1]?.trim() ?? '';
  const have = new Set(field('flags').split(/\s+/));
  return {
    model: field('model name') || process.arch,
    cores: availableParallelism(),
    flags: FLAGS_THAT_MATTER.filter((f) => have.has(f)),
  };
}

export interface Peak {
  gflops: number;
  gflops1: number;
  how: string;
}

/**
 * The machine's FMA peak, measured here (bench/peak/fma_peak.c, compiled with -march=native), unless given.
 * Measured twice and the larger kept: a busy neighbour lowers it, nothing raises it.
 */
export function measurePeak(given?: string): Peak {
  if (given) return { gflops: Number(given), gflops1: NaN, how: 'given with --peak-gflops' };
  const exe = join(root, '.cache', 'fma_peak');
  mkdirSync(dirname(exe), { recursive: true });
  const cc = spawnSync('cc', ['-O3', '-march=native', '-pthread', join(here, 'peak', 'fma_peak.c'), '-o', exe], { encoding: 'utf8' });
  if (cc.status !== 0) return { gflops: 230, gflops1: NaN, how: 'assumed 230 GFLOP/s (no C compiler to measure it; --peak-gflops to set)' };
  let best = 0;
  let best1 = 0;
  let lanes = 0;
  for (let i = 0; i < 2; i++) {
    const r = spawnSync(exe, [], { encoding: 'utf8' });
    const m = JSON.parse(r.stdout) as { gflops: number; gflops1: number; lanes: number };
    best = Math.max(best, m.gflops);
    best1 = Math.max(best1, m.gflops1);
    lanes = m.lanes;
  }
  return { gflops: +best.toFixed(1), gflops1: +best1.toFixed(1), how: `measured: FMA chains on all cores, ${lanes * 32}-bit vectors (bench/peak/fma_peak.c)` };
}

export function load(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

/** The environment of every PyTorch bench command (see the file comment). */
export function torchEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(availableParallelism()) };
  delete env['OPENBLAS_CORETYPE'];
  delete env['OPENBLAS_L2_SIZE'];
  return env;
}

export interface TorchBlas {
  ok: boolean;
  torch?: string;
  library?: string;
  kernel?: string;
  config?: string;
  threads?: number;
  matmulGflops?: number;
  /** Why PyTorch is not reported (missing, or multiplying with the reference BLAS). */
  refusal?: string;
}

/** Which BLAS torch uses under `torchEnv()`, and a bare product's rate (bench/workers/torch_blas.py). */
export function torchBlas(): TorchBlas {
  const r = spawnSync(TORCH_PYTHON, [join(here, 'workers', 'torch_blas.py'), '1'], { env: torchEnv(), encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, refusal: `\`${TORCH_PYTHON} -c "import torch"\` failed (apt-get install python3-torch libopenblas0-pthread)` };
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    torch: string;
    matmulGflops: number;
    blas: { libraries: string[]; kernel: string | null; config: string | null; threads: number | null; library?: string };
  };
  const out: TorchBlas = { ok: true, torch: j.torch, library: j.blas.library ?? j.blas.libraries.join(', '), matmulGflops: j.matmulGflops };
  if (j.blas.kernel) out.kernel = j.blas.kernel;
  if (j.blas.config) out.config = j.blas.config;
  if (j.blas.threads !== null) out.threads = j.blas.threads;
  if (!j.blas.kernel && !j.blas.libraries.some((l) => /mkl/i.test(l))) {
    out.ok = false;
    out.refusal = `torch multiplies with ${out.library || 'an unknown BLAS'} (not OpenBLAS or MKL: netlib reference loops, ${j.matmulGflops} GFLOP/s); apt-get install libopenblas0-pthread`;
  }
  return out;
}

/** Whether a peer's result is too slow to be a fair anchor: under 10 % of peak while ours is over 30 %. */
export function peerLooksBroken(peerShare: number, ourShare: number): boolean {
  return peerShare < 0.1 && ourShare > 0.3;
}

export function headerLines(cpu: CpuInfo, peak: Peak, blas?: TorchBlas): string[] {
  const lines = [
    `CPU: ${cpu.model}, ${cpu.cores} cores; flags: ${cpu.flags.join(' ') || '(none of interest)'}`,
    `FMA peak: ${peak.gflops} GFLOP/s all cores${Number.isFinite(peak.gflops1) ? `, ${peak.gflops1} one core` : ''} (${peak.how})`,
    `load average (1/5/15 min): ${load()}`,
  ];
  if (blas) {
    lines.push(
      blas.ok
        ? `PyTorch ${blas.torch}: BLAS ${blas.library}, kernel ${blas.kernel ?? '?'}, ${blas.threads ?? '?'} threads; bare 2056×384×1536 product ${blas.matmulGflops} GFLOP/s (OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset for PyTorch only)`
        : `PyTorch not reported: ${blas.refusal}`,
    );
  }
  return lines;
}

/**
 * Runs one peer's bench worker in its own process — a Python script through `TORCH_PYTHON` with `torchEnv()`,
 * or a TypeScript worker through tsx with `PEER_MODEL_DIR` — and parses the JSON its last stdout line holds;
 * a worker that printed none gives `{ ok: false, note }` with the end of its stderr.
 */
export function runBenchWorker<R>(script: string, request: string, opts: { cwd: string; peerDir: string; stderrLines?: number }): R | { ok: false; note: string } {
  const r = script.endsWith('.py')
    ? spawnSync(TORCH_PYTHON, [script, request], { env: torchEnv(), encoding: 'utf8', maxBuffer: 1 << 24 })
    : spawnSync(process.execPath, ['--import', 'tsx', script, request], { cwd: opts.cwd, env: { ...process.env, PEER_MODEL_DIR: opts.peerDir }, encoding: 'utf8', maxBuffer: 1 << 24 });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as R;
  } catch {
    return { ok: false, note: `worker failed: ${(r.stderr ?? '').trim().split('\n').slice(-(opts.stderrLines ?? 2)).join(' ') || `exit ${r.status}`}` };
  }
}
