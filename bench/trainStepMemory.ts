/**
 * `node --import tsx bench/trainStepMemory.ts [--steps 3] [--session-options JSON]`
 *
 * Where the training step's memory goes: the step of bench/trainStep.ts (same config, store and batch; our
 * side only), run phase by phase — forward_backward (the step graph), clipping norms, AdamW, teacher EMA —
 * printing each phase's peak RSS and the RSS after it (Linux: the high-water mark is reset before every
 * phase through /proc/self/clear_refs), with seconds and CPU seconds (user, of which system) per step.
 * The first step also compiles the graphs and touches the optimizer state for the first time.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { RuntimeOptions } from '../src/graph/runtime.js';
import { OFFICIAL_OPTIM, SslTrainer } from '../src/train/ssl/sslStep.js';
import { cpuInfo, headerLines, load, measurePeak } from './anchors.js';
import { HYPER, benchStoreAndBatch, sslConfig } from './trainStep.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '3' },
    batch: { type: 'string', default: '4' },
    local: { type: 'string', default: '8' },
    prototypes: { type: 'string', default: '65536' },
    'session-options': { type: 'string' },
  },
});
const steps = Number(values.steps);
if (!Number.isSafeInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got ${values.steps}`);
const sessionOptions = values['session-options'] ? (JSON.parse(values['session-options']) as RuntimeOptions['sessionOptions']) : undefined;

const status = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 2 ** 20;
const gib = (x: number): string => x.toFixed(2);

for (const l of headerLines(cpuInfo(), measurePeak())) console.log(l);
const cfg = sslConfig(Number(values.batch), Number(values.local), Number(values.prototypes));
const { store, batch } = benchStoreAndBatch(cfg);
const trainer = new SslTrainer(cfg, store, { optim: OFFICIAL_OPTIM, ...(sessionOptions ? { runtime: { sessionOptions } } : {}) });
console.log(`session options: ${JSON.stringify(sessionOptions ?? {})}; RSS after setup ${gib(status('VmRSS'))} GiB`);
try {
  for (let s = 0; s < steps; s++) {
    const parts: string[] = [];
    const phase = async (name: string, run: () => Promise<unknown>): Promise<void> => {
      writeFileSync('/proc/self/clear_refs', '5');
      await run();
      parts.push(`${name} ${gib(status('VmHWM'))}/${gib(status('VmRSS'))}`);
    };
    const t = performance.now();
    const cpu = process.cpuUsage();
    let scales: ReadonlyMap<string, number> = new Map();
    await phase('forward_backward', () => trainer.forwardBackward(batch, HYPER.teacherTemp));
    await phase('clip', async () => (scales = (await trainer.clipper.compute(OFFICIAL_OPTIM.clipGrad)).scales));
    await phase('adamw', () => trainer.adamw.step(HYPER, scales));
    await phase('ema', () => trainer.ema.update(HYPER.teacherMomentum));
    const used = process.cpuUsage(cpu);
    const secs = ((performance.now() - t) / 1000).toFixed(2);
    console.log(`step ${s}: ${secs} s, CPU ${((used.user + used.system) / 1e6).toFixed(2)} s (system ${(used.system / 1e6).toFixed(2)}); GiB peak/after: ${parts.join(', ')}`);
  }
} finally {
  await trainer.dispose();
}
console.log(`load average at the end: ${load()}`);
