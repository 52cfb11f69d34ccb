import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkStateDict, openWeights } from '../../src/formats/open.js';
import { MODELS } from './helpers.js';

/** The shapes the reference lists for a model are the "model" a checkpoint is checked against. */
async function referenceShapes(file: string): Promise<Map<string, number[]>> {
  const json = JSON.parse(await readFile(join(MODELS, '..', 'arch', file), 'utf8')) as { state_dict_shapes: Record<string, number[]> };
  return new Map(Object.entries(json.state_dict_shapes));
}

/** Shapes of tiny-mlp as another source (its safetensors file) reports them. */
async function tinyShapes(): Promise<Map<string, number[]>> {
  const s = await openWeights(join(MODELS, 'tiny-mlp.safetensors'));
  try {
    return new Map(s.keys().map((k) => [k, s.entry(k)!.shape]));
  } finally {
    await s.close();
  }
}

test('every format of tiny-mlp passes the check against its own shapes', async () => {
  const expected = await tinyShapes();
  for (const f of ['tiny-mlp.pth', 'tiny-mlp-hf']) {
    const w = await openWeights(join(MODELS, f));
    try {
      checkStateDict(w, expected);
    } finally {
      await w.close();
    }
  }
});

test('a mis-shaped key is named with both shapes', async () => {
  const expected = await tinyShapes();
  expected.set('blocks.0.attn.qkv.weight', [96, 48]);
  const w = await openWeights(join(MODELS, 'tiny-mlp.pth'));
  try {
    assert.throws(() => checkStateDict(w, expected), {
      message: `${join(MODELS, 'tiny-mlp.pth')}: key 'blocks.0.attn.qkv.weight' has shape [144, 48] but the model expects [96, 48]`,
    });
  } finally {
    await w.close();
  }
});

test('missing and unexpected keys are all reported in one message', async () => {
  const expected = await tinyShapes();
  expected.delete('norm.bias');
  expected.set('register_tokens', [1, 4, 48]);
  const w = await openWeights(join(MODELS, 'tiny-mlp-hf'));
  try {
    assert.throws(() => checkStateDict(w, expected), (e: Error) => {
      assert.match(e.message, /tiny-mlp-hf: 2 problems with the state dict:/);
      assert.match(e.message, /missing key 'register_tokens' \(the model expects \[1, 4, 48\]\)/);
      assert.match(e.message, /unexpected key 'norm\.bias' with shape \[48\]/);
      return true;
    });
    assert.throws(() => checkStateDict(w, expected, { ignoreUnexpected: (k) => k === 'norm.bias' }), /missing key 'register_tokens'/);
  } finally {
    await w.close();
  }
});

test('a tiny checkpoint against ViT-S/14 lists the first problems and counts the rest', async () => {
  const expected = await referenceShapes('dinov2_vits14.json');
  const w = await openWeights(join(MODELS, 'tiny-mlp.safetensors'));
  try {
    assert.throws(() => checkStateDict(w, expected, { maxProblems: 3 }), (e: Error) => {
      const lines = e.message.split('\n');
      assert.match(lines[0]!, /tiny-mlp\.safetensors: \d+ problems with the state dict:/);
      assert.equal(lines[1], "  key 'cls_token' has shape [1, 1, 48] but the model expects [1, 1, 384]");
      assert.equal(lines.length, 5);
      assert.match(lines[4]!, /… and \d+ more/);
      return true;
    });
  } finally {
    await w.close();
  }
});
