/** Cross-checks against PyTorch itself; skipped where no Python with torch is installed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PthFile, writePth } from '../../src/formats/pth.js';
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { sourceItems } from '../../src/formats/tensorItem.js';
import { openWeights } from '../../src/formats/open.js';
import { findTorchPython, MODELS, runPython, tempDir } from './helpers.js';

const python = findTorchPython();
const skip = !python && 'no Python with torch';

test('torch.load accepts what writePth writes (weights_only) and sees the same tensors', { skip }, async () => {
  const dir = await tempDir();
  const path = join(dir, 'ours.pth');
  const st = await SafetensorsFile.open(join(MODELS, 'tiny-mlp.safetensors'));
  const order = st.keys();
  try {
    await writePth(path, [
      ...sourceItems(st),
      { key: 'x.f16', dtype: 'F16', shape: [2], data: new Float32Array([1, -0.5]) },
      { key: 'x.bf16', dtype: 'BF16', shape: [1], data: new Float32Array([3]) },
      { key: 'x.mask', dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
      { key: 'x.big', dtype: 'I64', shape: [1], data: new Uint8Array(new BigInt64Array([2n ** 40n]).buffer) },
    ]);
  } finally {
    await st.close();
  }
  const out = runPython(
    python!,
    `import sys, json, torch
ours = torch.load(sys.argv[1], weights_only=True)
ref = torch.load(sys.argv[2])
assert all(torch.equal(ours[k], ref[k]) for k in ref), 'backbone tensors differ'
assert [k for k in ours if not k.startswith('x.')] == json.loads(sys.argv[3]), 'key order differs'
assert sorted(json.loads(sys.argv[3])) == sorted(ref)
assert ours['x.f16'].dtype == torch.float16 and ours['x.f16'].tolist() == [1.0, -0.5]
assert ours['x.bf16'].dtype == torch.bfloat16 and ours['x.bf16'].tolist() == [3.0]
assert ours['x.mask'].dtype == torch.bool and ours['x.mask'].tolist() == [True, False]
assert ours['x.big'].tolist() == [2**40]
print('ok')`,
    [path, join(MODELS, 'tiny-mlp.pth'), JSON.stringify(order)],
  );
  assert.equal(out.trim(), 'ok');
});

for (const protocol of [2, 4]) {
  test(`reads torch.save output (pickle protocol ${protocol}): views, dtypes, parameters, nested training wrappers`, { skip }, async () => {
    const dir = await tempDir();
    const path = join(dir, 'torch.pth');
    const script = `import sys, json, collections, torch
torch.manual_seed(0)
base = torch.randn(4, 6)
sd = collections.OrderedDict()
sd['backbone.blocks.1.3.norm1.weight'] = torch.randn(6)
sd['backbone.blocks.1.3.attn.qkv.weight'] = base.t()
sd['backbone.pos_embed'] = base[1:3, 2:5]
sd['backbone.cls_token'] = base[2]
sd['backbone.half'] = torch.randn(3, 2).half()
sd['backbone.bf'] = torch.randn(5).bfloat16()
sd['backbone.param'] = torch.nn.Parameter(torch.randn(2, 2))
sd['dino_head.mlp.0.weight'] = torch.randn(3, 6)
torch.save({'teacher': sd, 'iteration': 12500}, sys.argv[1], pickle_protocol=${protocol})
def raw(t):
    t = t.detach().contiguous()
    return (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes().hex()
print(json.dumps({k: [raw(v), list(v.shape)] for k, v in sd.items()}))`;
    const expected = JSON.parse(runPython(python!, script, [path])) as Record<string, [string, number[]]>;
    const pth = await PthFile.open(path);
    try {
      assert.deepEqual(pth.keys(), Object.keys(expected).map((k) => `teacher.${k}`));
      for (const [k, [hex, shape]] of Object.entries(expected)) {
        assert.deepEqual(pth.entry(`teacher.${k}`)!.shape, shape, k);
        assert.equal(Buffer.from(await pth.readRaw(`teacher.${k}`)).toString('hex'), hex, k);
      }
      assert.equal(pth.entry('teacher.backbone.half')!.dtype, 'F16');
      assert.equal(pth.entry('teacher.backbone.bf')!.dtype, 'BF16');
      assert.equal((pth.tree as Map<string, unknown>).get('iteration'), 12500);
    } finally {
      await pth.close();
    }
    const opened = await openWeights(path);
    try {
      assert.deepEqual(opened.keys(), ['blocks.3.norm1.weight', 'blocks.3.attn.qkv.weight', 'pos_embed', 'cls_token', 'half', 'bf', 'param']);
      assert.equal(opened.metadata.stateDictPrefix, 'teacher.backbone.');
      const [hex] = expected['backbone.blocks.1.3.attn.qkv.weight']!;
      assert.equal(Buffer.from(await opened.readRaw('blocks.3.attn.qkv.weight')).toString('hex'), hex);
    } finally {
      await opened.close();
    }
  });
}

test('the legacy (non-zip) torch.save format is refused with advice', { skip }, async () => {
  const dir = await tempDir();
  const path = join(dir, 'legacy.pth');
  runPython(python!, 'import sys, torch\ntorch.save({"w": torch.ones(2)}, sys.argv[1], _use_new_zipfile_serialization=False)', [path]);
  await assert.rejects(openWeights(path), /legacy\.pth: legacy torch\.save format .*re-save with torch >= 1\.6/);
});
