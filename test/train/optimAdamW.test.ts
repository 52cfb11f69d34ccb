import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AdamW, applyOptimScheduler, type GroupHyper } from '../../src/train/optim/adamw.js';
import { ParamStore, type ParamInit } from '../../src/train/optim/paramStore.js';
import { Rng } from '../../src/core/rng.js';
import { findTorchPython, runPython, tempDir } from '../formats/helpers.js';

const f = Math.fround;

/** A tiny student: 2-block backbone, DINO head and iBOT head, with official key names. */
function tinyStudent(rng: Rng): ParamInit[] {
  const shapes: [string, number[]][] = [
    ['backbone.cls_token', [1, 1, 8]],
    ['backbone.pos_embed', [1, 5, 8]],
    ['backbone.mask_token', [1, 8]],
    ['backbone.patch_embed.proj.weight', [8, 3, 2, 2]],
    ['backbone.patch_embed.proj.bias', [8]],
  ];
  for (let b = 0; b < 2; b++) {
    shapes.push(
      [`backbone.blocks.${b}.norm1.weight`, [8]],
      [`backbone.blocks.${b}.norm1.bias`, [8]],
      [`backbone.blocks.${b}.attn.qkv.weight`, [24, 8]],
      [`backbone.blocks.${b}.attn.qkv.bias`, [24]],
      [`backbone.blocks.${b}.ls1.gamma`, [8]],
      [`backbone.blocks.${b}.mlp.fc1.weight`, [16, 8]],
      [`backbone.blocks.${b}.mlp.fc1.bias`, [16]],
    );
  }
  shapes.push(['backbone.norm.weight', [8]], ['backbone.norm.bias', [8]]);
  for (const h of ['dino_head', 'ibot_head']) {
    shapes.push([`${h}.mlp.0.weight`, [12, 8]], [`${h}.mlp.0.bias`, [12]], [`${h}.last_layer.weight_g`, [10, 1]], [`${h}.last_layer.weight_v`, [10, 12]]);
  }
  return shapes.map(([name, shape]) => ({ name, shape, data: randn(rng, shape.reduce((a, b) => a * b, 1)) }));
}

function randn(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

const GROUP_OPTIONS = { layerwiseDecay: 0.9, patchEmbedLrMult: 0.2 };

/** Per-step schedule values; the last-layer lr is frozen at first, as the official schedule starts. */
const SCHEDULE = [
  { lr: 4e-3, wd: 0.04, lastLayerLr: 0 },
  { lr: 3e-3, wd: 0.05, lastLayerLr: 0 },
  { lr: 2e-3, wd: 0.1, lastLayerLr: 2e-3 },
  { lr: 1.5e-3, wd: 0.2, lastLayerLr: 1.5e-3 },
  { lr: 1e-3, wd: 0.4, lastLayerLr: 1e-3 },
];

/** Gradients for step k, the same for every run (a fresh Rng per step). */
function gradsFor(params: readonly ParamInit[], k: number): Float32Array[] {
  const rng = new Rng(1000 + k);
  return params.map((p) => randn(rng, p.shape.reduce((a, b) => a * b, 1), 0.1 + k));
}

/** Expected (lr, wd) per parameter straight from the official rules, written independently here. */
function expectedHyper(name: string, v: (typeof SCHEDULE)[number]): GroupHyper {
  let lrMult = 1;
  if (name.startsWith('backbone.')) {
    const local = name.slice('backbone.'.length);
    const block = /^blocks\.(\d+)\./.exec(local);
    const layer = /^(cls_token|pos_embed|mask_token|patch_embed)/.test(local) ? 0 : block ? Number(block[1]) + 1 : 3;
    lrMult = 0.9 ** (3 - layer);
    if (local.startsWith('patch_embed')) lrMult *= 0.2;
  }
  const wdMult = name.endsWith('.bias') || name.includes('norm') || name.includes('gamma') ? 0 : 1;
  const lr = (name.includes('last_layer') ? v.lastLayerLr : v.lr) * lrMult;
  return { lr, weightDecay: v.wd * wdMult };
}

/** torch's AdamW step in float32, one rounding per op, with the association documented in adamw.ts. */
function referenceStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, h: GroupHyper, t: number, gradScale = 1): void {
  const bc1 = 1 - 0.9 ** t;
  const bc2 = 1 - 0.999 ** t;
  const decay = f(1 - h.lr * h.weightDecay);
  const ns = f(-(h.lr / bc1));
  const s2 = f(Math.sqrt(bc2));
  for (let i = 0; i < p.length; i++) {
    const gs = f(g[i]! * f(gradScale));
    const p1 = f(p[i]! * decay);
    m[i] = f(f(m[i]! * f(0.9)) + f(f(1 - 0.9) * gs));
    v[i] = f(f(v[i]! * f(0.999)) + f(f(1 - 0.999) * f(gs * gs)));
    const den = f(f(f(Math.sqrt(v[i]!)) / s2) + f(1e-8));
    p[i] = f(p1 + f(ns * f(m[i]! / den)));
  }
}

function firstDifference(a: Float32Array, b: Float32Array): string | null {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) if (ua[i] !== ub[i]) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return null;
}

test('apply_optim_scheduler: last-layer groups follow last_layer_lr, wd multiplier scales wd', () => {
  const store = ParamStore.create(tinyStudent(new Rng(1)), { groups: GROUP_OPTIONS });
  const v = SCHEDULE[2]!;
  const hyper = applyOptimScheduler(store.groups, v);
  for (const s of store.slots) {
    const h = hyper[s.group]!;
    const e = expectedHyper(s.name, v);
    assert.ok(Math.abs(h.lr - e.lr) <= 1e-15 * Math.abs(e.lr), `${s.name}: lr ${h.lr} vs ${e.lr}`);
    assert.equal(h.weightDecay, e.weightDecay, s.name);
  }
  assert.throws(() => applyOptimScheduler(store.groups, { lr: NaN, wd: 0, lastLayerLr: 0 }), /finite/);
});

test('AdamW graph = float32 reference, bit for bit, over several chunks and steps', async () => {
  const params = tinyStudent(new Rng(2));
  // Small chunks: some groups split over several chunks.
  const store = ParamStore.create(params, { groups: GROUP_OPTIONS, maxChunkElements: 300 });
  assert.ok(store.chunks.length > store.groups.length, `${store.chunks.length} chunks for ${store.groups.length} groups`);
  const ref = params.map((p) => ({ p: Float32Array.from(p.data!), m: new Float32Array(p.data!.length), v: new Float32Array(p.data!.length) }));
  const opt = new AdamW(store);
  try {
    for (let k = 0; k < SCHEDULE.length; k++) {
      const grads = gradsFor(params, k);
      params.forEach((p, i) => store.setGrad(p.name, grads[i]!));
      await opt.step(SCHEDULE[k]!);
      params.forEach((p, i) => referenceStep(ref[i]!.p, grads[i]!, ref[i]!.m, ref[i]!.v, expectedHyper(p.name, SCHEDULE[k]!), k + 1));
      params.forEach((p, i) => {
        for (const [what, got, want] of [
          ['param', store.param(p.name), ref[i]!.p],
          ['exp_avg', store.expAvgOf(p.name), ref[i]!.m],
          ['exp_avg_sq', store.expAvgSqOf(p.name), ref[i]!.v],
        ] as const) {
          const d = firstDifference(got, want);
          assert.equal(d, null, `step ${k + 1}, ${p.name} ${what}: ${d}`);
        }
        assert.equal(store.stepOf(p.name), k + 1);
      });
      if (k === 1) {
        // last_layer_lr is 0 for the first two steps: the frozen last layer has not moved, its moments have.
        const last = params.find((p) => p.name === 'dino_head.last_layer.weight_v')!;
        assert.deepEqual(store.param(last.name), last.data);
        assert.ok(store.expAvgOf(last.name).some((x) => x !== 0));
      }
    }
  } finally {
    await opt.dispose();
  }
});

test('AdamW: explicit per-group settings and the grad scale enter as documented', async () => {
  const params = tinyStudent(new Rng(3));
  const store = ParamStore.create(params, { groups: GROUP_OPTIONS });
  const opt = new AdamW(store);
  try {
    const hyper = store.groups.map((_, i) => ({ lr: 1e-3 * (i + 1), weightDecay: 0.01 * i }));
    const grads = gradsFor(params, 0);
    params.forEach((p, i) => store.setGrad(p.name, grads[i]!));
    const scales = new Map([['backbone', 0.25], ['ibot_head', 0.5]]);
    await opt.step(hyper, scales);
    params.forEach((p, i) => {
      const r = { p: Float32Array.from(p.data!), m: new Float32Array(p.data!.length), v: new Float32Array(p.data!.length) };
      const s = store.slot(p.name);
      referenceStep(r.p, grads[i]!, r.m, r.v, hyper[s.group]!, 1, scales.get(s.module) ?? 1);
      assert.equal(firstDifference(store.param(p.name), r.p), null, p.name);
    });
    await assert.rejects(opt.step(hyper.slice(1)), /group settings/);
    await assert.rejects(opt.step(hyper, new Map([['head', 1]])), /unknown module/);
  } finally {
    await opt.dispose();
  }
});

test('AdamW matches torch.optim.AdamW (foreach and single-tensor) within 1e-6 relative', async (t) => {
  const python = findTorchPython();
  if (!python) return t.skip('no python with torch');
  const dir = await tempDir();
  const params = tinyStudent(new Rng(4));
  const store = ParamStore.create(params, { groups: GROUP_OPTIONS, maxChunkElements: 500 });
  const steps = SCHEDULE.map((v) => applyOptimScheduler(store.groups, v));
  const groupOf = store.slots.map((s) => s.group);
  await writeFile(join(dir, 'params.bin'), concat(params.map((p) => p.data!)));
  for (let k = 0; k < SCHEDULE.length; k++) await writeFile(join(dir, `grads${k}.bin`), concat(gradsFor(params, k)));
  await writeFile(join(dir, 'spec.json'), JSON.stringify({ shapes: params.map((p) => p.shape), groupOf, numGroups: store.groups.length, steps }));
  const script = String.raw`
import json, sys, numpy as np, torch
d = sys.argv[1]
spec = json.load(open(d + '/spec.json'))
shapes = spec['shapes']
sizes = [int(np.prod(s)) for s in shapes]
def split(buf):
    out, o = [], 0
    for s, n in zip(shapes, sizes):
        out.append(torch.from_numpy(buf[o:o + n].copy()).reshape(s)); o += n
    return out
init = np.fromfile(d + '/params.bin', dtype='<f4')
for foreach in (True, False):
    ps = [torch.nn.Parameter(x) for x in split(init)]
    groups = [{'params': [p for p, g in zip(ps, spec['groupOf']) if g == gi], 'foreach': foreach} for gi in range(spec['numGroups'])]
    opt = torch.optim.AdamW(groups, lr=1.0, betas=(0.9, 0.999), eps=1e-8)
    for k, hyper in enumerate(spec['steps']):
        for g, h in zip(opt.param_groups, hyper):
            g['lr'] = h['lr']; g['weight_decay'] = h['weightDecay']
        for p, gr in zip(ps, split(np.fromfile(d + '/grads%d.bin' % k, dtype='<f4'))):
            p.grad = gr
        opt.step()
    out = []
    for p in ps:
        st = opt.state[p]
        assert float(st['step']) == len(spec['steps'])
        out += [p.detach().flatten(), st['exp_avg'].flatten(), st['exp_avg_sq'].flatten()]
    torch.cat(out).numpy().astype('<f4').tofile(d + '/out_%s.bin' % ('foreach' if foreach else 'single'))
`;
  runPython(python, script, [dir]);
  const opt = new AdamW(store);
  try {
    for (let k = 0; k < SCHEDULE.length; k++) {
      gradsFor(params, k).forEach((g, i) => store.setGrad(params[i]!.name, g));
      await opt.step(SCHEDULE[k]!);
    }
  } finally {
    await opt.dispose();
  }
  for (const variant of ['foreach', 'single']) {
    const torchOut = new Float32Array((await readFile(join(dir, `out_${variant}.bin`))).buffer.slice(0));
    let o = 0;
    let bitwise = 0;
    let total = 0;
    for (const p of params) {
      const n = p.data!.length;
      for (const got of [store.param(p.name), store.expAvgOf(p.name), store.expAvgSqOf(p.name)]) {
        const want = torchOut.subarray(o, o + n);
        o += n;
        let scale = 0;
        for (const w of want) scale = Math.max(scale, Math.abs(w));
        for (let i = 0; i < n; i++) {
          const diff = Math.abs(got[i]! - want[i]!);
          assert.ok(diff <= 1e-6 * scale, `${variant} ${p.name}[${i}]: ${got[i]} vs torch ${want[i]} (tensor scale ${scale})`);
          if (got[i] === want[i]) bitwise++;
          total++;
        }
      }
    }
    assert.equal(o, torchOut.length);
    t.diagnostic(`${variant}: ${bitwise}/${total} values bit-identical to torch`);
  }
});

test('AdamW refuses groups whose parameters have taken different numbers of steps', async () => {
  const store = ParamStore.create(tinyStudent(new Rng(5)), { groups: GROUP_OPTIONS });
  const opt = new AdamW(store);
  try {
    const wGroup = store.groups.find((g) => g.params.length > 1)!;
    store.steps[store.indexOf(wGroup.params[0]!)] = 3;
    await assert.rejects(opt.step(SCHEDULE[0]!), /steps/);
  } finally {
    await opt.dispose();
  }
});

function concat(arrays: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((a, x) => a + x.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}
