/**
 * DINOHead (dinov2/layers/dino_head.py): an MLP to a bottleneck, L2 normalisation, and a weight-normalised
 * linear layer to the prototypes. Keys follow the official state dict: `mlp.*` (a single Linear when
 * nlayers = 1, else a Sequential whose Linear layers sit at even indices 0, 2, 4, … with GELU between),
 * `last_layer.weight_g` [K, 1] and `last_layer.weight_v` [K, bottleneck] (weight_norm, dim = 0, no bias).
 * BatchNorm (use_bn=True) is not supported: DINOv2 never enables it.
 */
import type { Sym } from '../../graph/builder.js';
import * as nn from '../../graph/nn.js';
import * as op from '../../graph/ops.js';
import type { ParamScope } from './params.js';

export interface DinoHeadOptions {
  /** Linear layers in the MLP (official default 3; values below 1 count as 1, as `max(nlayers, 1)` does). */
  nlayers?: number;
  /** F.normalize's eps: 1e-12 in float32 (the official code uses 1e-6 only for float16). */
  eps?: number;
}

/** F.normalize(x, p=2, dim=-1, eps): x / max(‖x‖₂, eps). */
export function l2Normalize(x: Sym, eps: number): Sym {
  const norm = op.sqrt(op.reduceSum(op.mul(x, x), [-1], true));
  return op.div(x, op.maximum(norm, x.g.scalar(eps)));
}

/**
 * torch.nn.utils.weight_norm with dim = 0: W = v · (g / ‖v‖) where the norm runs over all axes but the
 * first (one norm per output row), exactly as `torch._weight_norm` computes it (no eps).
 */
export function weightNorm(g: Sym, v: Sym): Sym {
  const rows = Array.from({ length: v.rank - 1 }, (_, i) => i + 1);
  const norm = op.sqrt(op.reduceSum(op.mul(v, v), rows, true));
  return op.mul(v, op.div(g, norm));
}

/** The MLP of `_build_mlp`: Linear (→ GELU → Linear)… with the official indices. */
export function dinoHeadMlp(x: Sym, p: ParamScope, nlayers: number): Sym {
  if (nlayers <= 1) return nn.linear(x, p.get('weight'), p.maybe('bias'));
  let h = x;
  for (let i = 0; i < nlayers; i++) {
    const layer = p.scope(String(2 * i));
    h = nn.linear(h, layer.get('weight'), layer.maybe('bias'));
    if (i < nlayers - 1) h = nn.gelu(h);
  }
  return h;
}

/** DINOHead.forward on x [..., in_dim] → [..., out_dim]. `p` is the head's scope (keys `mlp.*`, `last_layer.*`). */
export function dinoHead(x: Sym, p: ParamScope, options: DinoHeadOptions = {}): Sym {
  const nlayers = Math.max(options.nlayers ?? 3, 1);
  const z = l2Normalize(dinoHeadMlp(x, p.scope('mlp'), nlayers), options.eps ?? 1e-12);
  const last = p.scope('last_layer');
  // A head saved after remove_weight_norm has a plain `weight`; the official checkpoints have g and v.
  const plain = last.maybe('weight');
  const w = plain ?? weightNorm(last.get('weight_g'), last.get('weight_v'));
  return nn.linear(z, w, null);
}
