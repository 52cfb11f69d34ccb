/**
 * Every officially released DINOv2 artifact and where it lives.
 *
 * Torch-hub files follow `dinov2/hub/*.py` (reference §2.4): `{base}/{m}/{mr}_{what}.pth`, where `{m}` is the
 * architecture folder (`dinov2_vitb14`) and `{mr}` adds `_reg4` for the register models. Our names use the hub
 * model names of `models/config.ts` (`dinov2_vitb14_reg`), so `dinov2_vitb14_reg_linear_head` is the file
 * `dinov2_vitb14/dinov2_vitb14_reg4_linear_head.pth`. The README's broken links (ViT-g reg linear head, NYU 1-layer
 * heads) are not reproduced: URLs are built the way the code builds them.
 *
 * Hugging Face files are the transformers conversions (`facebook/dinov2-*`). Byte sizes are not listed: none
 * were verified against the servers here, and a wrong size would reject a good file; the download checks the
 * server's Content-Length (and, for HF LFS files, the sha256 the hub reports) instead.
 */
import { checkRevision } from './refs.js';
import { HUB_MODELS, isHubModelName, type HubModelName } from '../models/config.js';

export const TORCHHUB_BASE_URL = 'https://dl.fbaipublicfiles.com/dinov2';
export const HF_ENDPOINT = 'https://huggingface.co';

export type ArtifactSource = 'torchhub' | 'hf';
export type ArtifactKind = 'backbone' | 'classifier' | 'depth' | 'segmentation' | 'config' | 'text';

/** Head kinds, as they appear in artifact names after the model name. */
export const CLASSIFIER_HEADS = ['linear', 'linear4'] as const;
export const DEPTH_HEADS = ['nyu_linear', 'nyu_linear4', 'nyu_dpt', 'kitti_linear', 'kitti_linear4', 'kitti_dpt'] as const;
export const SEGMENTATION_HEADS = ['ade20k_linear', 'ade20k_ms', 'voc2012_linear', 'voc2012_ms'] as const;
/** Mask2Former on ADE20K: ViT-g only (reference §2.4). */
export const M2F_HEAD = 'ade20k_m2f' as const;
export type HeadKind =
  | (typeof CLASSIFIER_HEADS)[number]
  | (typeof DEPTH_HEADS)[number]
  | (typeof SEGMENTATION_HEADS)[number]
  | typeof M2F_HEAD;

export interface HfLocation {
  /** `owner/name`. */
  repo: string;
  /** Path inside the repo. */
  file: string;
  /** Branch, tag or commit. */
  revision: string;
}

export interface HubArtifact {
  /** Registry name: `dinov2_vitb14`, `dinov2_vitb14_nyu_linear4_head`, `facebook/dinov2-base/model.safetensors`. */
  name: string;
  kind: ArtifactKind;
  source: ArtifactSource;
  /** The backbone this artifact belongs to. */
  model: HubModelName;
  /** Download URL on the official servers (mirrors are applied at resolve time). */
  url: string;
  /** Base name of the file, as torch.hub stores it in its checkpoints folder. */
  filename: string;
  /** Known byte size, when reliably known. */
  size?: number;
  /** Known sha256 of the content, when reliably known. */
  sha256?: string;
  /** For Hugging Face artifacts: where in the hub the file lives. */
  hf?: HfLocation;
}

/** `dinov2_vitb14_reg` → `dinov2_vitb14` (the folder on the server). */
export function archName(model: HubModelName): string {
  return model.replace(/_reg$/, '');
}

/** `dinov2_vitb14_reg` → `dinov2_vitb14_reg4` (the file prefix; `_make_dinov2_model_name`). */
function filePrefix(model: HubModelName): string {
  return model.endsWith('_reg') ? `${archName(model)}_reg4` : model;
}

function isReg(model: HubModelName): boolean {
  return model.endsWith('_reg');
}

function torchhub(name: string, kind: ArtifactKind, model: HubModelName, file: string): HubArtifact {
  return { name, kind, source: 'torchhub', model, url: `${TORCHHUB_BASE_URL}/${archName(model)}/${file}`, filename: file };
}

export function hfResolveUrl(loc: HfLocation, endpoint = HF_ENDPOINT): string {
  const file = loc.file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${loc.repo}/resolve/${encodeURIComponent(loc.revision)}/${file}`;
}

const HF_SIZE: Record<string, string> = { vits14: 'small', vitb14: 'base', vitl14: 'large', vitg14: 'giant' };

/** The transformers conversion of a hub model: `facebook/dinov2-with-registers-base` etc. */
export function hfRepo(model: HubModelName, variant: 'backbone' | 'imagenet1k-1-layer' = 'backbone'): string {
  const size = HF_SIZE[archName(model).replace('dinov2_', '')]!;
  const base = isReg(model) ? `facebook/dinov2-with-registers-${size}` : `facebook/dinov2-${size}`;
  return variant === 'backbone' ? base : `${base}-imagenet1k-1-layer`;
}

export const HF_FILES = ['config.json', 'model.safetensors'] as const;

export function hfArtifact(model: HubModelName, repo: string, file: string, revision = 'main'): HubArtifact {
  const hf = { repo, file, revision };
  const kind: ArtifactKind = file.endsWith('.json') ? 'config' : repo.endsWith('-imagenet1k-1-layer') ? 'classifier' : 'backbone';
  const suffix = revision === 'main' ? '' : `@${revision}`;
  return { name: `${repo}/${file}${suffix}`, kind, source: 'hf', model, url: hfResolveUrl(hf), filename: file.split('/').pop()!, hf };
}

function buildRegistry(): HubArtifact[] {
  const out: HubArtifact[] = [];
  for (const model of HUB_MODELS) {
    const m = archName(model);
    const mr = filePrefix(model);
    out.push(torchhub(model, 'backbone', model, `${mr}_pretrain.pth`));
    for (const h of CLASSIFIER_HEADS) out.push(torchhub(`${model}_${h}_head`, 'classifier', model, `${mr}_${h}_head.pth`));
    if (!isReg(model)) {
      for (const h of DEPTH_HEADS) {
        out.push(torchhub(`${model}_${h}_head`, 'depth', model, `${m}_${h}_head.pth`));
        out.push(torchhub(`${model}_${h}_config`, 'config', model, `${m}_${h}_config.py`));
      }
      for (const h of SEGMENTATION_HEADS) {
        out.push(torchhub(`${model}_${h}_head`, 'segmentation', model, `${m}_${h}_head.pth`));
        out.push(torchhub(`${model}_${h}_config`, 'config', model, `${m}_${h}_config.py`));
      }
    }
    if (model === 'dinov2_vitg14') {
      out.push(torchhub(`${model}_${M2F_HEAD}_head`, 'segmentation', model, `${m}_${M2F_HEAD}.pth`));
      out.push(torchhub(`${model}_${M2F_HEAD}_config`, 'config', model, `${m}_${M2F_HEAD}_config.py`));
    }
    if (model === 'dinov2_vitl14_reg') {
      // dino.txt (vision head + text encoder on ViT-L/14 reg).
      for (const part of ['vision_head', 'text_encoder']) {
        const file = `${mr}_dinotxt_tet1280d20h24l_${part}.pth`;
        out.push(torchhub(`${model}_dinotxt_tet1280d20h24l_${part}`, 'text', model, file));
      }
    }
    for (const variant of ['backbone', 'imagenet1k-1-layer'] as const) {
      for (const f of HF_FILES) out.push(hfArtifact(model, hfRepo(model, variant), f));
    }
  }
  return out;
}

const REGISTRY: readonly HubArtifact[] = buildRegistry();
const BY_NAME = new Map(REGISTRY.map((a) => [a.name, a]));

export function listArtifacts(filter: Partial<Pick<HubArtifact, 'kind' | 'source' | 'model'>> = {}): HubArtifact[] {
  return REGISTRY.filter(
    (a) =>
      (filter.kind === undefined || a.kind === filter.kind) &&
      (filter.source === undefined || a.source === filter.source) &&
      (filter.model === undefined || a.model === filter.model),
  ).map((a) => ({ ...a }));
}

/**
 * Looks an artifact up by name. HF files may also be asked for at another revision with `repo/file@revision`
 * (any registered repo and file).
 */
export function hubArtifact(name: string): HubArtifact {
  const found = BY_NAME.get(name);
  if (found) return { ...found };
  const at = name.lastIndexOf('@');
  if (at > 0) {
    const base = BY_NAME.get(name.slice(0, at));
    if (base?.hf) return hfArtifact(base.model, base.hf.repo, base.hf.file, checkRevision(name.slice(at + 1)));
  }
  const near = REGISTRY.filter((a) => a.name.startsWith(name.split('_').slice(0, 2).join('_'))).slice(0, 6).map((a) => a.name);
  throw new Error(`unknown DINOv2 artifact '${name}'${near.length ? ` (e.g. ${near.join(', ')})` : ''}; listArtifacts() gives them all`);
}

function checkModel(model: string): HubModelName {
  if (!isHubModelName(model)) throw new Error(`unknown DINOv2 model '${model}' (one of ${HUB_MODELS.join(', ')})`);
  return model;
}

/**
 * The backbone weights of a hub model. `source: 'hf'` gives the transformers `model.safetensors` (its
 * `config.json` is `hubArtifact('<repo>/config.json')`, see `hfBackboneArtifacts`).
 */
export function backboneArtifact(model: string, opts: { source?: ArtifactSource; revision?: string } = {}): HubArtifact {
  const m = checkModel(model);
  if ((opts.source ?? 'torchhub') === 'torchhub') return hubArtifact(m);
  return hfArtifact(m, hfRepo(m), 'model.safetensors', opts.revision);
}

/** `config.json` and `model.safetensors` of the transformers conversion: together they form an HF folder. */
export function hfBackboneArtifacts(model: string, revision?: string): HubArtifact[] {
  const m = checkModel(model);
  return HF_FILES.map((f) => hfArtifact(m, hfRepo(m), f, revision));
}

export function headArtifact(model: string, kind: HeadKind): HubArtifact {
  const m = checkModel(model);
  const name = `${m}_${kind}_head`;
  const found = BY_NAME.get(name);
  if (found) return { ...found };
  if (isReg(m) && !(CLASSIFIER_HEADS as readonly string[]).includes(kind)) {
    throw new Error(`no '${kind}' head was released for ${m}: depth and segmentation heads exist for the models without registers only`);
  }
  if (kind === M2F_HEAD) throw new Error(`the Mask2Former head was released for dinov2_vitg14 only, not ${m}`);
  throw new Error(`unknown head kind '${kind}' (one of ${[...CLASSIFIER_HEADS, ...DEPTH_HEADS, ...SEGMENTATION_HEADS, M2F_HEAD].join(', ')})`);
}
