/**
 * What a benchmark worker prints on its last stdout line: one JSON object. Each implementation runs in its
 * own process so that peak RSS is its own.
 */
export interface WorkerRequest {
  model: string;
  size: number;
  batch: number;
  /** Timed runs after `warmup` untimed ones; the median is reported. */
  runs: number;
  warmup: number;
  precision: 'fp32' | 'int8' | 'fp16';
  threads?: number;
}

export interface WorkerResult {
  ok: boolean;
  msPerBatch?: number[];
  peakRssBytes?: number;
  loadSeconds?: number;
  note?: string;
}

export function parseRequest(argv: readonly string[]): WorkerRequest {
  const json = argv[argv.length - 1];
  if (!json) throw new Error('worker: missing request JSON argument');
  return JSON.parse(json) as WorkerRequest;
}

export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

export async function timeRuns(req: WorkerRequest, run: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < req.warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < req.runs; i++) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  return times;
}

/** Deterministic pseudo-image input, the same in every worker. */
export function benchInput(batch: number, size: number): Float32Array {
  const x = new Float32Array(batch * 3 * size * size);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.001) * 2;
  return x;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
