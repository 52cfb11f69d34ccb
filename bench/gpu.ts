/**
 * GPU check and benchmark, run on a machine with an accelerator (see bench/RESULTS.md for how it was run):
 * for each available GPU execution provider, correctness against the CPU on ViT-S/14 (fp32 and fp16), then
 * throughput of ViT-S/B/L/g at 224 and 518 in fp32 and fp16, within a time budget. Seeded random weights.
 *
 *   node bench/gpu.mjs [--budget-s 420] [--out results.json] [--devices webgpu,cuda]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { hubConfig, type HubModelName } from '../src/models/config.js';
import { Dinov2 } from '../src/models/dinov2.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { Tensor } from '../src/core/tensor.js';
import { forwardFlops } from './flops.js';
import { cosineMin, maxAbs } from './similarity.js';
import { benchInput } from './workers/protocol.js';

const { values } = parseArgs({
  options: {
    'budget-s': { type: 'string', default: '420' },
    out: { type: 'string', default: 'gpu-results.json' },
    devices: { type: 'string', default: 'webgpu,cuda' },
    models: { type: 'string', default: 'vits14,vitb14,vitl14,vitg14' },
  },
});
const deadline = Date.now() + Number(values['budget-s']) * 1000;
const results: Record<string, unknown>[] = [];
const log = (o: Record<string, unknown>): void => {
  results.push(o);
  console.log(JSON.stringify(o));
  writeFileSync(values.out!, JSON.stringify(results, null, 1));
};

function input(batch: number, size: number): Tensor<'float32'> {
  return Tensor.float32(benchInput(batch, size), [batch, 3, size, size]);
}

type Device = 'webgpu' | 'cuda';
const devices = values.devices!.split(',') as Device[];
const available: Device[] = [];

// 1. Correctness against the CPU, ViT-S/14 at 224 (and a non-square size), fp32 and fp16.
{
  const cfg = hubConfig('dinov2_vits14');
  const w = randomBackboneWeights(cfg, 7);
  const cpu = new Dinov2(cfg, w, { device: 'cpu' });
  for (const [h, wd] of [[224, 224], [126, 308]] as const) {
    const x = Tensor.float32(input(2, 224).data.subarray(0, 2 * 3 * h * wd), [2, 3, h, wd]);
    const ref = await cpu.forwardFeatures(x);
    for (const device of devices) {
      for (const precision of ['float32', 'float16'] as const) {
        try {
          const m = new Dinov2(cfg, w, { device, precision });
          const out = await m.forwardFeatures(x);
          log({
            check: 'correctness', device, precision, size: `${h}x${wd}`,
            clsMaxAbs: maxAbs(out.clsToken.data, ref.clsToken.data),
            clsCosMin: cosineMin(out.clsToken.data, ref.clsToken.data, 384),
            patchCosMin: cosineMin(out.patchTokens.data, ref.patchTokens.data, 384),
          });
          if (!available.includes(device)) available.push(device);
          await m.dispose();
        } catch (e) {
          log({ check: 'correctness', device, precision, error: (e as Error).message.slice(0, 400) });
        }
      }
    }
  }
  await cpu.dispose();
}

// 2. Throughput.
const shapes: Record<string, [number, number][]> = {
  vits14: [[224, 128], [518, 16]],
  vitb14: [[224, 128], [518, 16]],
  vitl14: [[224, 64], [518, 8]],
  vitg14: [[224, 32], [518, 16]],
};
for (const device of available) {
  for (const m of values.models!.split(',')) {
    for (const precision of ['float16', 'float32'] as const) {
      if (Date.now() > deadline) {
        log({ check: 'throughput', device, model: m, precision, skipped: 'time budget spent' });
        continue;
      }
      const name = `dinov2_${m}` as HubModelName;
      const cfg = hubConfig(name);
      let model: Dinov2 | null = null;
      try {
        const t0 = performance.now();
        model = new Dinov2(cfg, randomBackboneWeights(cfg, 1), { device, precision });
        for (const [size, batch0] of shapes[m]!) {
          let batch = batch0;
          const x = input(batch, size);
          let first = performance.now();
          try {
            await model.forward(x);
          } catch (e) {
            // Out of memory or buffer limits at this batch: try a quarter of it once.
            batch = Math.max(1, batch0 >> 2);
            first = performance.now();
            await model.forward(input(batch, size));
            log({ check: 'note', device, model: m, precision, size, note: `batch ${batch0} failed (${(e as Error).message.slice(0, 120)}), using ${batch}` });
          }
          const xb = batch === batch0 ? x : input(batch, size);
          const setup = (performance.now() - t0) / 1000;
          await model.forward(xb);
          const times: number[] = [];
          for (let i = 0; i < 5 && Date.now() < deadline; i++) {
            const t = performance.now();
            await model.forward(xb);
            times.push(performance.now() - t);
          }
          times.sort((a, b) => a - b);
          const ms = times[Math.floor(times.length / 2)]!;
          log({
            check: 'throughput', device, model: m, precision, size, batch,
            msPerBatch: +ms.toFixed(2), imgPerSec: +((batch * 1000) / ms).toFixed(1),
            tflops: +((forwardFlops(cfg, size, size) * batch) / ms / 1e9).toFixed(2),
            firstCallSeconds: +((performance.now() - first) / 1000).toFixed(1), setupSeconds: +setup.toFixed(1), runs: times.length,
          });
        }
      } catch (e) {
        log({ check: 'throughput', device, model: m, precision, error: (e as Error).message.slice(0, 400) });
      } finally {
        await model?.dispose().catch(() => undefined);
      }
    }
  }
}
console.log('done');
