import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HUB_MODELS } from '../../src/models/config.js';
import { backboneArtifact, headArtifact, hfBackboneArtifacts, hubArtifact, listArtifacts } from '../../src/hub/registry.js';

const BASE = 'https://dl.fbaipublicfiles.com/dinov2';

test('backbone URLs: model folder without the register suffix, file with _reg4', () => {
  assert.equal(backboneArtifact('dinov2_vits14').url, `${BASE}/dinov2_vits14/dinov2_vits14_pretrain.pth`);
  assert.equal(backboneArtifact('dinov2_vits14_reg').url, `${BASE}/dinov2_vits14/dinov2_vits14_reg4_pretrain.pth`);
  assert.equal(hubArtifact('dinov2_vitg14_reg').url, `${BASE}/dinov2_vitg14/dinov2_vitg14_reg4_pretrain.pth`);
  assert.equal(hubArtifact('dinov2_vitg14_reg').filename, 'dinov2_vitg14_reg4_pretrain.pth');
  const backbones = listArtifacts({ kind: 'backbone', source: 'torchhub' });
  assert.deepEqual(backbones.map((a) => a.name), [...HUB_MODELS]);
});

test('ImageNet linear heads exist for all 8 models (the code-built name, not the README typo)', () => {
  assert.equal(headArtifact('dinov2_vitb14', 'linear').url, `${BASE}/dinov2_vitb14/dinov2_vitb14_linear_head.pth`);
  assert.equal(headArtifact('dinov2_vitb14', 'linear4').url, `${BASE}/dinov2_vitb14/dinov2_vitb14_linear4_head.pth`);
  assert.equal(hubArtifact('dinov2_vitg14_reg_linear_head').url, `${BASE}/dinov2_vitg14/dinov2_vitg14_reg4_linear_head.pth`);
  assert.equal(listArtifacts({ kind: 'classifier', source: 'torchhub' }).length, 16);
});

test('depth heads: NYU and KITTI x linear/linear4/dpt, no register variants; the 1-layer NYU file keeps _nyu', () => {
  assert.equal(hubArtifact('dinov2_vitb14_nyu_linear4_head').url, `${BASE}/dinov2_vitb14/dinov2_vitb14_nyu_linear4_head.pth`);
  assert.equal(headArtifact('dinov2_vitl14', 'nyu_linear').url, `${BASE}/dinov2_vitl14/dinov2_vitl14_nyu_linear_head.pth`);
  assert.equal(headArtifact('dinov2_vits14', 'kitti_dpt').url, `${BASE}/dinov2_vits14/dinov2_vits14_kitti_dpt_head.pth`);
  assert.equal(listArtifacts({ kind: 'depth' }).length, 4 * 6);
  assert.throws(() => headArtifact('dinov2_vitb14_reg', 'nyu_dpt'), /no 'nyu_dpt' head was released for dinov2_vitb14_reg/);
  assert.equal(hubArtifact('dinov2_vitb14_nyu_dpt_config').url, `${BASE}/dinov2_vitb14/dinov2_vitb14_nyu_dpt_config.py`);
});

test('segmentation heads: ADE20K and VOC2012 x linear/ms, plus Mask2Former for ViT-g only', () => {
  assert.equal(headArtifact('dinov2_vits14', 'ade20k_ms').url, `${BASE}/dinov2_vits14/dinov2_vits14_ade20k_ms_head.pth`);
  assert.equal(headArtifact('dinov2_vitg14', 'voc2012_linear').url, `${BASE}/dinov2_vitg14/dinov2_vitg14_voc2012_linear_head.pth`);
  assert.equal(headArtifact('dinov2_vitg14', 'ade20k_m2f').url, `${BASE}/dinov2_vitg14/dinov2_vitg14_ade20k_m2f.pth`);
  assert.throws(() => headArtifact('dinov2_vitb14', 'ade20k_m2f'), /dinov2_vitg14 only/);
  assert.equal(listArtifacts({ kind: 'segmentation' }).length, 4 * 4 + 1);
});

test('Hugging Face repos and resolve URLs', () => {
  const a = backboneArtifact('dinov2_vits14', { source: 'hf' });
  assert.equal(a.url, 'https://huggingface.co/facebook/dinov2-small/resolve/main/model.safetensors');
  assert.deepEqual(a.hf, { repo: 'facebook/dinov2-small', file: 'model.safetensors', revision: 'main' });
  assert.equal(backboneArtifact('dinov2_vitg14_reg', { source: 'hf' }).hf!.repo, 'facebook/dinov2-with-registers-giant');
  assert.deepEqual(
    hfBackboneArtifacts('dinov2_vitl14').map((x) => x.url),
    ['config.json', 'model.safetensors'].map((f) => `https://huggingface.co/facebook/dinov2-large/resolve/main/${f}`),
  );
  assert.equal(hubArtifact('facebook/dinov2-base-imagenet1k-1-layer/model.safetensors').kind, 'classifier');
  assert.equal(hubArtifact('facebook/dinov2-with-registers-small-imagenet1k-1-layer/config.json').kind, 'config');
  const pinned = hubArtifact('facebook/dinov2-small/config.json@0123abc');
  assert.equal(pinned.url, 'https://huggingface.co/facebook/dinov2-small/resolve/0123abc/config.json');
  assert.equal(listArtifacts({ source: 'hf' }).length, 8 * 2 * 2);
});

test('names are unique, and unknown names say what exists', () => {
  const names = listArtifacts().map((a) => a.name);
  assert.equal(new Set(names).size, names.length);
  assert.throws(() => hubArtifact('dinov2_vitb14_nope'), /unknown DINOv2 artifact 'dinov2_vitb14_nope' \(e\.g\. dinov2_vitb14,/);
  assert.throws(() => backboneArtifact('dinov2_vitx14'), /unknown DINOv2 model 'dinov2_vitx14'/);
});

test('returned entries are copies', () => {
  const a = hubArtifact('dinov2_vits14');
  a.url = 'changed';
  assert.notEqual(hubArtifact('dinov2_vits14').url, 'changed');
});
