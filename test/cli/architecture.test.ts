/**
 * #13 item 1: the head count is not in a bare .pth/.safetensors. It is kept with the weights where the format
 * allows (safetensors __metadata__, a config.json beside a .pth, the HF config), carried by `convert`, taken as
 * --num-heads, and a guess is said out loud (stderr, `info`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';

const MODELS = join(CONFORMANCE_DIR, 'models');
const PTH = join(MODELS, 'tiny-reg4.pth');
const HF = join(MODELS, 'tiny-reg4-hf');
const IMAGE = join(CONFORMANCE_DIR, 'images');

async function embedNpy(dir: string, name: string, args: string[]): Promise<{ values: Float32Array; stderr: string }> {
  const { readdir } = await import('node:fs/promises');
  const img = join(IMAGE, (await readdir(IMAGE)).sort()[0]!);
  const out = join(dir, `${name}.npy`);
  const r = await cli(['embed', img, '--size', '56', '--out', out, '--quiet', ...args]);
  assert.equal(r.code, 0, r.stderr);
  const bytes = await readFile(out);
  const headerLen = bytes.readUInt16LE(8);
  const data = bytes.subarray(10 + headerLen);
  return { values: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)), stderr: r.stderr };
}

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test('embed: tiny-reg4.pth with --num-heads 3 gives what tiny-reg4-hf (3 heads) gives; without it a warning names --num-heads', async () => {
  await withTempDir(async (dir) => {
    const hf = await embedNpy(dir, 'hf', ['--model', HF]);
    assert.doesNotMatch(hf.stderr, /head count/);
    const pth3 = await embedNpy(dir, 'pth3', ['--model', PTH, '--num-heads', '3']);
    assert.doesNotMatch(pth3.stderr, /head count/);
    assert.equal(pth3.values.length, hf.values.length);
    assert.ok(maxDiff(pth3.values, hf.values) < 1e-5, `max |Δ| ${maxDiff(pth3.values, hf.values)}`);
    const guessed = await embedNpy(dir, 'pth', ['--model', PTH]);
    assert.match(guessed.stderr, /warning: .*tiny-reg4\.pth does not state its head count; assuming 1 .*--num-heads/);
    assert.ok(maxDiff(guessed.values, hf.values) > 1e-3, 'a wrong head count should change the features');
  });
});

test('convert carries the head count: .pth --num-heads 3 → HF config.json with 3 heads; HF → .safetensors (metadata) and → .pth (config.json beside) load with 3 heads', async () => {
  await withTempDir(async (dir) => {
    const hfOut = join(dir, 'hf');
    const c1 = await cli(['convert', PTH, hfOut, '--num-heads', '3']);
    assert.equal(c1.code, 0, c1.stderr);
    assert.equal(JSON.parse(await readFile(join(hfOut, 'config.json'), 'utf8')).num_attention_heads, 3);
    // Without --num-heads the guess is written, but said.
    const c2 = await cli(['convert', PTH, join(dir, 'guess')]);
    assert.equal(c2.code, 0, c2.stderr);
    assert.match(c2.stderr, /does not state its head count; writing 1 .*--num-heads/);

    const st = join(dir, 'm.safetensors');
    assert.equal((await cli(['convert', HF, st])).code, 0);
    const f = await SafetensorsFile.open(st);
    try {
      assert.equal(JSON.parse(String(f.metadata['dinov2_config'])).num_heads, 3);
    } finally {
      await f.close();
    }
    await mkdir(join(dir, 'pth'));
    const pth = join(dir, 'pth', 'm.pth');
    assert.equal((await cli(['convert', HF, pth])).code, 0);
    assert.equal(JSON.parse(await readFile(join(dir, 'pth', 'config.json'), 'utf8')).dinov2_config.num_heads, 3);

    const reference = await embedNpy(dir, 'ref', ['--model', HF]);
    for (const [name, model] of [['st', st], ['pth', pth]] as const) {
      const r = await embedNpy(dir, name, ['--model', model]);
      assert.doesNotMatch(r.stderr, /head count/, name);
      assert.ok(maxDiff(r.values, reference.values) < 1e-5, `${name}: max |Δ| ${maxDiff(r.values, reference.values)}`);
    }
    // An HF-style config.json beside a copied .pth is read too.
    await mkdir(join(dir, 'beside'));
    await copyFile(PTH, join(dir, 'beside', 'tiny.pth'));
    await copyFile(join(HF, 'config.json'), join(dir, 'beside', 'config.json'));
    const beside = await embedNpy(dir, 'beside', ['--model', join(dir, 'beside', 'tiny.pth')]);
    assert.doesNotMatch(beside.stderr, /head count/);
    assert.ok(maxDiff(beside.values, reference.values) < 1e-5);
  });
});

test('info says when the head count is a guess', async () => {
  const guessed = await cli(['info', PTH]);
  assert.equal(guessed.code, 0, guessed.stderr);
  assert.match(guessed.stdout, /^heads\s+1 \(assumed: head dim 64; pass --num-heads\)$/m);
  const given = await cli(['info', PTH, '--num-heads', '3']);
  assert.match(given.stdout, /^heads\s+3$/m);
  const hf = await cli(['info', HF, '--json']);
  assert.equal(JSON.parse(hf.stdout).heads, 3);
  assert.equal(JSON.parse(hf.stdout).headsAssumed, false);
});
