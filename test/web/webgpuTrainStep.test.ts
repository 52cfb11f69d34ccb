/**
 * The training graphs on a GPU: the SSL step graph (teacher + student forward, losses, teacher targets and
 * the gradient of every student parameter) and distillation's student step, run on onnxruntime-web's
 * WebGPU execution provider in headless Chromium on SwiftShader (see webgpu.test.ts), against the same
 * graph and feeds on onnxruntime-node's CPU provider.
 *
 * onnxruntime-web 1.30's WebGPU backend is the same C++ WebGPU execution provider (compiled to WASM) as
 * onnxruntime-node's `--device webgpu`, with the same kernels and the same CPU fallback rules, so this is
 * the step `dinov2 train --device webgpu` runs, on a software adapter; only the speed is not a GPU's.
 * The graph is built in Node, lowered for 'webgpu' and encoded as the page runtime does it (graph/
 * lowering.ts, graph/onnxEncode.ts, weights inline); the session options are the trainer's (src/web/
 * runtime.ts's providers, memory pattern off). The CPU side runs the graph as built.
 *
 * The page logs onnxruntime's node placement (verbose session log), so the test reports which nodes ran
 * on the CPU and fails if a floating-point tensor op other than NO_WEBGPU_KERNEL's fell back there (int64
 * index and shape arithmetic stays on the CPU by design); GPU_PROBE counts the compute dispatches, so a
 * silent WASM run fails too. The optimiser's element-wise graphs (AdamW, clipping, EMA) are checked the
 * same way: `--device webgpu` sends them to the GPU as well. Attention in these graphs is the standard form
 * (MatMul + Softmax: the fused contrib ops have no gradient rules), not the fused kernel that is wrong on
 * SwiftShader. Skipped only when no Chromium is installed.
 *
 * Tolerance: |webgpu − cpu| ≤ 1e-4 · max(1, max |cpu|) per output. Outputs of order one or less (losses,
 * target probabilities, most gradients) get the issue's 1e-4 as is; an output whose entries reach a
 * larger magnitude gets the same 1e-4 relative to its largest entry, since float32 sums over different
 * orders (the GPU's reductions) differ in proportion to the magnitude they add up. Each output's error
 * and scale are printed.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '../helpers.js';
import { CHROMIUM_WEBGPU_ARGS, findChromium, fromBase64F32, GPU_PROBE, PAGE_HELPERS, openWebFixture, type WebFixture } from './browserHelpers.js';
import { Tensor } from '../../src/core/tensor.js';
import { Rng } from '../../src/core/rng.js';
import type { GraphIR } from '../../src/graph/ir.js';
import { encodeOnnxInMemory } from '../../src/graph/onnxEncode.js';
import { lowerForDevice } from '../../src/graph/lowering.js';
import { compileGraph } from '../../src/graph/runtime.js';
import { buildSslStepGraph, SSL_IO } from '../../src/train/ssl/sslMetaArch.js';
import { drawDropPath, dropPathFeeds, OFFICIAL_OPTIM, SslTrainer } from '../../src/train/ssl/sslStep.js';
import { buildAdamWGraph } from '../../src/train/optim/adamw.js';
import { buildGradNormGraph, buildGradScaleGraph } from '../../src/train/optim/clipGradNorm.js';
import { buildEmaGraph } from '../../src/train/optim/ema.js';
import { globalPatches, N_GLOBAL_CROPS, studentParamShapes, type SslConfig } from '../../src/train/ssl/sslConfig.js';
import { buildDistillStudentGraph, type DistillConfig } from '../../src/train/distill/distillGraphs.js';
import { makeConfig } from '../../src/models/config.js';
import { TINY_SSL, tinySslBatch, tinySslStore } from '../train/tinySsl.js';

const chromiumPath = findChromium();
const skip = chromiumPath ? false : 'chromium is not installed';
const TOLERANCE = 1e-4;
/**
 * Nodes onnxruntime adds itself and may place on the CPU: shape computations, and the Transposes of its
 * layout optimiser (one in the SSL step, for whose type the WebGPU provider has no Transpose kernel).
 */
const SHAPE_OPS = new Set(['Shape', 'Reshape', 'Squeeze', 'Unsqueeze', 'Gather', 'Concat', 'Cast', 'Slice', 'Range', 'ConstantOfShape', 'Equal', 'Less', 'Where', 'Expand', 'Sub', 'Mul', 'Add', 'Div', 'ReduceProd', 'Transpose']);
/**
 * Float ops of these graphs that onnxruntime 1.30's WebGPU provider has no kernel for, so they run on the
 * CPU with copies across: EyeLike (KoLeo's diagonal, [B, B]: tiny). LogSoftmax has none either, but the
 * runtimes lower it for 'webgpu' (graph/lowering.ts); without that, the four DINO / iBOT cross-entropies
 * over [rows, K] ran on the CPU. Any other float op on the CPU fails the test.
 */
const NO_WEBGPU_KERNEL = new Set(['EyeLike']);

interface PageRun {
  outputs: Record<string, { type: string; dims: number[]; data: string }>;
  dispatches: number;
  /** onnxruntime's verbose log lines about node placement. */
  placement: string[];
  seconds: number;
}

/** The feeds as one binary file plus a manifest, served to the page under /tmp/. */
async function writeFeeds(f: WebFixture, file: string, feeds: Record<string, Tensor>): Promise<{ name: string; type: string; dims: number[]; offset: number; bytes: number }[]> {
  const manifest: { name: string; type: string; dims: number[]; offset: number; bytes: number }[] = [];
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(feeds)) {
    const view = t.data as unknown as ArrayBufferView;
    const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    const pad = (8 - (offset % 8)) % 8;
    if (pad) parts.push(Buffer.alloc(pad));
    offset += pad;
    manifest.push({ name, type: t.dtype === 'uint8' && name === SSL_IO.masks ? 'bool' : t.dtype, dims: [...t.shape], offset, bytes: bytes.length });
    parts.push(bytes);
    offset += bytes.length;
  }
  await writeFile(join(f.tmp, file), Buffer.concat(parts));
  return manifest;
}

/** Runs `ir` with `feeds` on onnxruntime-web's WebGPU provider in the page. */
async function runOnWebGpu(f: WebFixture, logs: string[], ir: GraphIR, feeds: Record<string, Tensor>): Promise<PageRun> {
  // What both runtimes hand onnxruntime for 'webgpu' (graph/lowering.ts: LogSoftmax from standard ops).
  const { model, external } = await encodeOnnxInMemory(lowerForDevice(ir, 'webgpu'));
  assert.equal(external.parts.length, 0);
  await writeFile(join(f.tmp, `${ir.name}.onnx`), model);
  const manifest = await writeFeeds(f, `${ir.name}.feeds`, feeds);
  logs.length = 0;
  const run = await f.page.evaluate(
    async ({ modelUrl, feedsUrl, manifest }) => {
      const ort = await import('/ortweb/ort.webgpu.min.mjs' as string);
      ort.env.wasm.wasmPaths = '/ortweb/';
      ort.env.wasm.numThreads = 1;
      ort.env.logLevel = 'verbose';
      const bytes = new Uint8Array(await (await fetch(modelUrl)).arrayBuffer());
      const buf = await (await fetch(feedsUrl)).arrayBuffer();
      const feeds: Record<string, unknown> = {};
      for (const m of manifest) {
        const slice = buf.slice(m.offset, m.offset + m.bytes);
        const data = m.type === 'float32' ? new Float32Array(slice) : m.type === 'int64' ? new BigInt64Array(slice) : new Uint8Array(slice);
        feeds[m.name] = new ort.Tensor(m.type, data, m.dims);
      }
      const session = await ort.InferenceSession.create(bytes, {
        executionProviders: ['webgpu', 'wasm'],
        graphOptimizationLevel: 'all',
        enableMemPattern: false,
        logSeverityLevel: 0,
        logVerbosityLevel: 0,
      });
      const gpu = (window as unknown as { __gpu: { dispatches: number } }).__gpu;
      const b64 = (window as unknown as { __b64: (a: Float32Array) => string }).__b64;
      const before = gpu.dispatches;
      const t0 = performance.now();
      const out = await session.run(feeds);
      const seconds = (performance.now() - t0) / 1000;
      const outputs: Record<string, { type: string; dims: number[]; data: string }> = {};
      for (const [k, v] of Object.entries(out) as [string, { type: string; dims: number[]; data: Float32Array }][]) outputs[k] = { type: v.type, dims: [...v.dims], data: b64(v.data) };
      await session.release();
      return { outputs, dispatches: gpu.dispatches - before, seconds };
    },
    { modelUrl: `/tmp/${ir.name}.onnx`, feedsUrl: `/tmp/${ir.name}.feeds`, manifest },
  );
  return { ...run, placement: logs.filter((l) => /VerifyEachNodeIsAssignedToAnEp/.test(l)) };
}

/** Nodes placed on the CPU, as onnxruntime's verbose log lists them: a " Node(s) placed on [CPUExecutionProvider]" line, then one line per node. */
function cpuNodes(placement: readonly string[]): string[] {
  const out: string[] = [];
  let onCpu = false;
  for (const line of placement.flatMap((l) => l.split('\n'))) {
    const header = /(?:Node\(s\)|All nodes) placed on \[(\w+)\]/.exec(line);
    if (header) {
      onCpu = header[1] === 'CPUExecutionProvider';
      continue;
    }
    const node = /\]\s{3}(\w+) \((.*)\)\s*$/.exec(line);
    if (!node) {
      onCpu = false;
      continue;
    }
    if (onCpu) out.push(`${node[1]} (${node[2]})`);
  }
  return out;
}

/** Compares every output of the page's run with Node's CPU run of the same graph; returns the report line. */
function compareOutputs(what: string, ir: GraphIR, page: PageRun, cpu: Record<string, Tensor>): string {
  let worst = { name: '', err: 0, scale: 0, ratio: -1 };
  for (const o of ir.outputs) {
    const p = page.outputs[o.name];
    const c = cpu[o.name];
    assert.ok(p && c, `${what}: output '${o.name}' missing (${p ? 'cpu' : 'webgpu'})`);
    assert.deepEqual(p.dims, [...c.shape], `${what}: '${o.name}' shape`);
    const a = fromBase64F32(p.data);
    const b = c.data as Float32Array;
    let err = 0;
    let scale = 0;
    for (let i = 0; i < b.length; i++) {
      assert.ok(Number.isFinite(a[i]!), `${what}: '${o.name}'[${i}] is ${a[i]} on WebGPU`);
      err = Math.max(err, Math.abs(a[i]! - b[i]!));
      scale = Math.max(scale, Math.abs(b[i]!));
    }
    const bound = TOLERANCE * Math.max(1, scale);
    assert.ok(err <= bound, `${what}: '${o.name}' max |err| ${err} over bound ${bound} (max |cpu| ${scale})`);
    if (err / bound > worst.ratio) worst = { name: o.name, err, scale, ratio: err / bound };
  }
  return `${ir.outputs.length} outputs within 1e-4·max(1, scale); worst '${worst.name}': max |err| ${worst.err.toExponential(2)} at scale ${worst.scale.toExponential(2)}`;
}

/**
 * Checks the GPU ran the graph and that every node placed on the CPU is one whose output is not a floating
 * point tensor (int64 index arithmetic, shapes, bool masks, float scalars from shapes) or an op in
 * NO_WEBGPU_KERNEL; a node onnxruntime
 * inserted itself (not in our graph) must be a shape op. Returns the report line (op types on the CPU).
 */
function checkPlacement(what: string, ir: GraphIR, run: PageRun, minDispatches = 50): string {
  assert.ok(run.dispatches >= minDispatches, `${what}: only ${run.dispatches} GPU dispatches`);
  assert.ok(run.placement.some((l) => /placed on \[WebGpuExecutionProvider\]/.test(l)), `${what}: onnxruntime logged no node placement on WebGPU`);
  const lowered = lowerForDevice(ir, 'webgpu');
  const byName = new Map(lowered.nodes.map((n) => [n.name, n]));
  const onCpu = cpuNodes(run.placement);
  const unexpected = onCpu.filter((entry) => {
    const [type, rest] = entry.split(' (') as [string, string];
    if (NO_WEBGPU_KERNEL.has(type)) return false;
    const node = byName.get(rest.slice(0, -1));
    if (!node) return !SHAPE_OPS.has(type);
    const out = lowered.values.get(node.outputs[0]!);
    // A float scalar computed from shapes (the masked-patch count as float) is not tensor work.
    const scalar = out?.shape.every((d) => d === 1);
    return (out?.dtype === 'float32' || out?.dtype === 'float16') && !scalar;
  });
  assert.deepEqual(unexpected, [], `${what}: floating-point nodes placed on the CPU/WASM: ${unexpected.join(', ')}`);
  const counts = new Map<string, number>();
  for (const n of onCpu) counts.set(n.split(' ')[0]!, (counts.get(n.split(' ')[0]!) ?? 0) + 1);
  const list = [...counts].sort().map(([t, c]) => `${t}×${c}`).join(' ');
  return `${lowered.nodes.length} nodes; ${run.dispatches} GPU dispatches; on the CPU: ${list || 'none'}; ${run.seconds.toFixed(1)} s on SwiftShader`;
}

describe('training step graphs on WebGPU (onnxruntime-web, SwiftShader) against Node CPU', { skip }, () => {
  let f: WebFixture;
  const logs: string[] = [];

  before(async () => {
    f = await openWebFixture({ '/ortweb/': join(REPO_ROOT, 'node_modules', 'onnxruntime-web', 'dist') }, { chromiumArgs: CHROMIUM_WEBGPU_ARGS });
    f.page.on('console', (m) => logs.push(m.text()));
    await f.page.addScriptTag({ content: PAGE_HELPERS + GPU_PROBE });
    const adapter = await f.page.evaluate(async () => !!(await (navigator as unknown as { gpu: { requestAdapter(): Promise<unknown> } }).gpu.requestAdapter()));
    assert.ok(adapter, 'no WebGPU adapter with --enable-unsafe-webgpu');
  });

  after(async () => {
    await f?.close();
  });

  const SSL_CASES: [string, SslConfig][] = [
    ['softmax centering, shared head', TINY_SSL],
    ['Sinkhorn-Knopp, separate iBOT head, drop path', { ...TINY_SSL, centering: 'sinkhorn_knopp', ibotHead: { outDim: 10, hiddenDim: 20, bottleneckDim: 8, nlayers: 3 }, dropPathRate: 0.5 }],
  ];
  for (const [label, cfg] of SSL_CASES) {
    test(`SSL step (${label}): losses, teacher targets, centers and every gradient equal Node's CPU step`, async () => {
      const store = tinySslStore(cfg);
      const trainer = new SslTrainer(cfg, store, { optim: OFFICIAL_OPTIM, dropPathSeed: 3 });
      const ir = buildSslStepGraph(cfg, studentParamShapes(cfg));
      const cpu = await compileGraph(ir, { sessionOptions: { enableMemPattern: false } });
      try {
        const feeds = trainer.feeds(tinySslBatch(11, [1, 2, 5, 12, 15]), 0.05);
        const plan = drawDropPath(cfg, trainer.dropPathRng);
        if (plan) Object.assign(feeds, dropPathFeeds(cfg, plan));
        const declared = new Set(ir.inputs.map((i) => i.name));
        for (const k of Object.keys(feeds)) if (!declared.has(k)) delete feeds[k];
        assert.equal(Object.keys(feeds).length, ir.inputs.length);
        const want = await cpu.run(feeds);
        assert.ok((want[SSL_IO.loss('total')]!.data as Float32Array)[0]! > 0);
        const page = await runOnWebGpu(f, logs, ir, feeds);
        const placed = checkPlacement(`SSL step (${label})`, ir, page);
        const compared = compareOutputs(`SSL step (${label})`, ir, page, want);
        console.log(`# SSL step (${label}): ${placed}; ${compared}`);
      } finally {
        await cpu.dispose();
        await trainer.dispose();
      }
    });
  }

  test("distillation's student step: losses and every gradient equal Node's CPU step", async () => {
    const cfg: DistillConfig = {
      student: { ...TINY_SSL, centering: 'sinkhorn_knopp', ibotHead: { outDim: 10, hiddenDim: 20, bottleneckDim: 8, nlayers: 3 } },
      teacher: makeConfig({ img_size: 28, patch_size: 14, embed_dim: 24, depth: 2, num_heads: 2 }),
    };
    const ir = buildDistillStudentGraph(cfg);
    const store = tinySslStore(cfg.student);
    const batch = tinySslBatch(5, []);
    const rng = new Rng(9);
    /** Rows of probabilities (what the teacher graph outputs), from random logits. */
    const targets = (rows: number, k: number): Tensor<'float32'> => {
      const d = new Float32Array(rows * k);
      for (let r = 0; r < rows; r++) {
        let sum = 0;
        for (let j = 0; j < k; j++) sum += d[r * k + j] = Math.exp(2 * rng.normal());
        for (let j = 0; j < k; j++) d[r * k + j]! /= sum;
      }
      return Tensor.float32(d, [rows, k]);
    };
    const rowsG = N_GLOBAL_CROPS * cfg.student.nImages;
    const feeds: Record<string, Tensor> = {
      [SSL_IO.globalCrops]: batch.globalCrops,
      [SSL_IO.localCrops]: batch.localCrops!,
      [SSL_IO.teacherDinoTargets]: targets(rowsG, cfg.student.dinoHead.outDim),
      [SSL_IO.teacherIbotTargets]: targets(rowsG * globalPatches(cfg.student), cfg.student.ibotHead!.outDim),
    };
    for (const s of store.slots) feeds[SSL_IO.student(s.name)] = Tensor.float32(store.param(s.name), s.shape);
    const declared = new Set(ir.inputs.map((i) => i.name));
    for (const k of Object.keys(feeds)) if (!declared.has(k)) delete feeds[k];
    assert.equal(Object.keys(feeds).length, ir.inputs.length, `inputs: ${ir.inputs.map((i) => i.name).filter((n) => !(n in feeds)).join(', ')} not fed`);
    const cpu = await compileGraph(ir, { sessionOptions: { enableMemPattern: false } });
    try {
      const want = await cpu.run(feeds);
      const page = await runOnWebGpu(f, logs, ir, feeds);
      const placed = checkPlacement('distillation student step', ir, page);
      const compared = compareOutputs('distillation student step', ir, page, want);
      console.log(`# distillation student step: ${placed}; ${compared}`);
    } finally {
      await cpu.dispose();
    }
  });

  test('the optimiser graphs (gradient norm and scaling, AdamW, teacher EMA) on WebGPU equal Node CPU', async () => {
    const rng = new Rng(21);
    const N = 5000;
    const vec = (scale: number, abs = false): Tensor<'float32'> => Tensor.float32(Float32Array.from({ length: N }, () => (abs ? Math.abs(rng.normal()) : rng.normal()) * scale), [N]);
    const one = (v: number): Tensor<'float32'> => Tensor.float32(Float32Array.of(v), [1]);
    const cases: [GraphIR, Record<string, Tensor>][] = [
      [buildGradNormGraph(), { grad: vec(0.1) }],
      [buildGradScaleGraph(), { grad: vec(0.1), scale: one(0.37) }],
      [
        buildAdamWGraph(OFFICIAL_OPTIM.beta1, OFFICIAL_OPTIM.beta2, OFFICIAL_OPTIM.eps),
        { param: vec(0.5), grad: vec(0.1), exp_avg: vec(0.01), exp_avg_sq: vec(1e-4, true), decay: one(1 - 1e-3 * 0.04), neg_step_size: one(-1e-3 / 0.1), bc2_sqrt: one(Math.sqrt(1 - 0.999 ** 3)), grad_scale: one(0.8) },
      ],
      [buildEmaGraph(), { teacher: vec(0.5), student: vec(0.5), momentum: one(0.996), one_minus_momentum: one(0.004) }],
    ];
    for (const [ir, feeds] of cases) {
      assert.deepEqual(Object.keys(feeds).sort(), ir.inputs.map((i) => i.name).sort(), `${ir.name}: feeds`);
      const cpu = await compileGraph(ir);
      try {
        const want = await cpu.run(feeds);
        const page = await runOnWebGpu(f, logs, ir, feeds);
        const placed = checkPlacement(ir.name, ir, page, 1);
        assert.deepEqual(cpuNodes(page.placement), [], `${ir.name}: nodes on the CPU`);
        console.log(`# ${ir.name}: ${placed}; ${compareOutputs(ir.name, ir, page, want)}`);
      } finally {
        await cpu.dispose();
      }
    }
  });
});
