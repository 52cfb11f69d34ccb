import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fuseParamsGroups, getVitLrDecayRate, studentParamGroups, type ParamSpec } from '../../src/train/optim/paramGroups.js';
import { pythonPow } from '../../src/core/pythonMath.js';
import { readManifest } from '../../tools/conformance/manifest.js';
import { CONFORMANCE_DIR } from '../helpers.js';

const SUITE = CONFORMANCE_DIR;

const BLOCK_PARAMS = [
  'norm1.weight', 'norm1.bias', 'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias', 'ls1.gamma',
  'norm2.weight', 'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias', 'ls2.gamma',
];
const HEAD_PARAMS = ['mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias', 'mlp.4.weight', 'mlp.4.bias', 'last_layer.weight_g', 'last_layer.weight_v'];

/** Student parameter names of a ViT with the given depth; `chunks` > 0 uses the FSDP `blocks.c.i` layout. */
function studentNames(depth: number, { chunks = 0, registers = false, ibotHead = true } = {}): string[] {
  const names = ['backbone.cls_token', 'backbone.pos_embed'];
  if (registers) names.push('backbone.register_tokens');
  names.push('backbone.mask_token', 'backbone.patch_embed.proj.weight', 'backbone.patch_embed.proj.bias');
  const chunkSize = chunks > 0 ? depth / chunks : 0;
  for (let i = 0; i < depth; i++) {
    const prefix = chunks > 0 ? `backbone.blocks.${Math.floor(i / chunkSize)}.${i}.` : `backbone.blocks.${i}.`;
    for (const p of BLOCK_PARAMS) names.push(prefix + p);
  }
  names.push('backbone.norm.weight', 'backbone.norm.bias');
  for (const p of HEAD_PARAMS) names.push(`dino_head.${p}`);
  if (ibotHead) for (const p of HEAD_PARAMS) names.push(`ibot_head.${p}`);
  return names;
}

/** The expected multipliers, straight from the documented rules. */
function expected(name: string, depth: number, decay: number, patchMult: number) {
  let lr = 1;
  if (name.startsWith('backbone.')) {
    const local = name.slice('backbone.'.length);
    const block = /^blocks\.(?:\d+\.)?(\d+)\./.exec(local);
    let layer = depth + 1;
    if (/^(cls_token|pos_embed|mask_token|register_tokens|patch_embed)/.test(local)) layer = 0;
    else if (block) layer = Number(block[1]) + 1;
    lr = decay ** (depth + 1 - layer);
    if (local.startsWith('patch_embed')) lr *= patchMult;
  }
  const wd = /\.bias$/.test(name) || name.includes('norm') || name.includes('gamma') ? 0 : 1;
  return { lr, wd, last: name.includes('last_layer') };
}

const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-15 * Math.abs(b);

for (const [label, opts] of [
  ['flat', {}],
  ['chunked (block_chunks 4)', { chunks: 4 }],
  ['registers', { registers: true }],
] as const) {
  test(`param groups: ViT-S/12 ${label} follow the formula`, () => {
    const names = studentNames(12, opts);
    const groups = studentParamGroups(names.map((name) => ({ name })), { layerwiseDecay: 0.9, patchEmbedLrMult: 0.2 });
    assert.deepEqual(groups.map((g) => g.name), names);
    for (const g of groups) {
      const e = expected(g.name, 12, 0.9, 0.2);
      assert.ok(close(g.lrMultiplier, e.lr), `${g.name}: lr ${g.lrMultiplier} vs ${e.lr}`);
      assert.equal(g.wdMultiplier, e.wd, g.name);
      assert.equal(g.isLastLayer, e.last, g.name);
    }
  });
}

test('param groups: spot values', () => {
  const groups = new Map(
    studentParamGroups(studentNames(12).map((name) => ({ name })), { layerwiseDecay: 0.9, patchEmbedLrMult: 0.2 }).map((g) => [g.name, g]),
  );
  const get = (n: string) => groups.get(n)!;
  assert.ok(close(get('backbone.pos_embed').lrMultiplier, 0.2541865828329001)); // 0.9^13
  assert.ok(close(get('backbone.patch_embed.proj.weight').lrMultiplier, 0.2541865828329001 * 0.2));
  assert.ok(close(get('backbone.blocks.11.attn.qkv.weight').lrMultiplier, 0.9));
  assert.ok(close(get('backbone.blocks.0.attn.qkv.weight').lrMultiplier, 0.2824295364810001)); // 0.9^12
  assert.equal(get('backbone.norm.weight').lrMultiplier, 1);
  assert.equal(get('backbone.pos_embed').wdMultiplier, 1);
  assert.equal(get('backbone.blocks.3.ls1.gamma').wdMultiplier, 0);
  assert.equal(get('dino_head.last_layer.weight_g').wdMultiplier, 1);
  assert.equal(get('dino_head.last_layer.weight_g').isLastLayer, true);
  assert.equal(get('ibot_head.mlp.0.weight').lrMultiplier, 1);
  assert.equal(get('dino_head.mlp.4.bias').wdMultiplier, 0);
});

test('param groups: the lr decay rate reads names as the official helper does', () => {
  // Names relative to the backbone (how the official training calls it) and backbone-prefixed names.
  assert.equal(getVitLrDecayRate('blocks.2.mlp.fc1.weight', 0.5, 4, true), 0.25);
  assert.equal(getVitLrDecayRate('blocks.0.2.mlp.fc1.weight', 0.5, 4, true, true), 0.25);
  assert.equal(getVitLrDecayRate('backbone.blocks.2.mlp.fc1.weight', 0.5, 4), 0.25);
  assert.equal(getVitLrDecayRate('backbone.cls_token', 0.5, 4), 0.5 ** 5);
  assert.equal(getVitLrDecayRate('norm.weight', 0.5, 4, true), 1);
  assert.equal(getVitLrDecayRate('mlp.0.weight', 0.5, 0, false), 1);
  // Python's ** is correctly rounded where V8's integer power is not.
  assert.equal(pythonPow(0.9, 4), 0.6561);
  assert.equal(pythonPow(0.9, 0), 1);
  assert.equal(pythonPow(0.9, -1), 1 / 0.9);
});

test('param groups: equal to the train.ssl_step cases', { skip: !existsSync(`${SUITE}/manifest.json`) && 'no conformance suite' }, async () => {
  const manifest = await readManifest(SUITE);
  const cases = manifest.cases.filter((c) => c.kind === 'train.ssl_step');
  assert.ok(cases.length > 0);
  for (const c of cases) {
    const cfg = c.config as {
      layerwise_decay: number;
      patch_embed_lr_mult: number;
      param_groups: Record<string, { lr_multiplier: number; wd_multiplier: number; is_last_layer: boolean }>;
    };
    const specs: ParamSpec[] = Object.keys(cfg.param_groups).map((name) => ({ name }));
    const groups = studentParamGroups(specs, { layerwiseDecay: cfg.layerwise_decay, patchEmbedLrMult: cfg.patch_embed_lr_mult });
    for (const g of groups) {
      const want = cfg.param_groups[g.name]!;
      // Exact: the suite's numbers are Python floats and the rules are plain arithmetic.
      assert.equal(g.lrMultiplier, want.lr_multiplier, `${c.id} ${g.name} lr`);
      assert.equal(g.wdMultiplier, want.wd_multiplier, `${c.id} ${g.name} wd`);
      assert.equal(g.isLastLayer, want.is_last_layer, `${c.id} ${g.name} last layer`);
    }
  }
});

test('param groups: fusing keeps every parameter once, in homogeneous groups', () => {
  const entries = studentParamGroups(studentNames(12).map((name) => ({ name })), { layerwiseDecay: 0.9, patchEmbedLrMult: 0.2 });
  const fused = fuseParamsGroups(entries);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const seen = fused.flatMap((g) => g.params);
  assert.equal(seen.length, entries.length);
  assert.equal(new Set(seen).size, entries.length);
  for (const g of fused) {
    for (const p of g.params) {
      const e = byName.get(p)!;
      assert.equal(e.lrMultiplier, g.lrMultiplier);
      assert.equal(e.wdMultiplier, g.wdMultiplier);
      assert.equal(e.isLastLayer, g.isLastLayer);
    }
  }
  // Distinct (lr, wd, last layer) triples: tokens, patch weight, patch bias, 12 blocks × {decay, no decay},
  // the final norm / head biases (1, 0), head weights (1, 1), last layers (1, 1, last).
  assert.equal(fused.length, 3 + 24 + 3);
  assert.throws(() => studentParamGroups([{ name: 'cls_token' }], { layerwiseDecay: 0.9, patchEmbedLrMult: 0.2 }));
});
