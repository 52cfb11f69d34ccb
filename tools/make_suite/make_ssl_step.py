#!/usr/bin/env python3
"""Extra `train.ssl_step` cases computed by the OFFICIAL `SSLMetaArch.forward_backward`.

Writes OUT_DIR/manifest.json and OUT_DIR/cases/*.safetensors in the layout of the shared suite (same
tensor names, U8 masks, same tolerances), for configurations the shared cases do not cover: a separate
iBOT head with softmax centering, SwiGLU with registers and no LayerScale, other loss weights, three
images, several local crops, and two consecutive iterations (so that AdamW's second step, the centers
carried between steps and the EMA compound).

Usage:
    DINOV2_REPO=/path/to/dinov2 /usr/bin/python3 tools/make_suite/make_ssl_step.py OUT_DIR
    npm run conformance -- OUT_DIR --kind train.ssl_step

The official code is imported from DINOV2_REPO, never copied. It cannot run as is on a CPU-only torch 1.13
without xformers and FSDP, so four things are provided from outside, none of which changes the numbers
for drop path 0:
  * `xformers.ops.fmha.BlockDiagonalMask` (imported by ssl_meta_arch.py only to concatenate the head
    inputs and split the outputs): a concat/split stand-in;
  * `dinov2.fsdp` (FSDP wrappers): trivial stand-ins; `update_teacher` sees each module's parameters;
  * `DinoVisionTransformer.forward_features_list` runs each crop set through `forward_features` (the
    official version packs them with xformers' block-diagonal attention: the same mathematics);
  * `Tensor.cuda` returns the tensor itself (forward_backward moves the batch to the GPU).
ssl_meta_arch.py itself is loaded from its file (dinov2/train/__init__.py imports train.py, which needs
fvcore); `apply_optim_scheduler` is taken from dinov2/train/train.py with `ast`, as make_suite.py does for
`build_schedulers`. Gradient clipping uses torch.nn.utils.clip_grad_norm_ per student module (what FSDP's
`clip_grad_norm_` computes on one process). The scaled_dot_product_attention shim, the safetensors writer
and the one-process gloo group (iBOT's Sinkhorn-Knopp all-reduces unconditionally) come from make_suite.py.
"""

import ast
import importlib.util
import json
import os
import random
import sys
import types
from functools import partial

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_suite as ms  # noqa: E402  (sets XFORMERS_DISABLED, the SDPA shim, sys.path to DINOV2_REPO)

import torch  # noqa: E402

REPO = ms.REPO
TOL = dict(atol=1e-4, rtol=1e-3)  # the shared train.ssl_step tolerances


# --- stand-ins for what needs a GPU / xformers / FSDP ------------------------------------------------------
class _BlockDiagonalMask:
    """from_tensor_list concatenates [1, n_i, D] inputs along dim 1; split cuts an output the same way."""

    def __init__(self, sizes):
        self.sizes = sizes

    @classmethod
    def from_tensor_list(cls, tensors):
        sizes = [t.shape[1] for t in tensors]
        assert all(t.shape[0] == 1 for t in tensors)
        return cls(sizes), torch.cat(tensors, dim=1)

    def split(self, x):
        return list(x.split(self.sizes, dim=1))


def _install_stubs():
    xf = types.ModuleType("xformers")
    xf_ops = types.ModuleType("xformers.ops")
    xf_ops.fmha = types.SimpleNamespace(BlockDiagonalMask=_BlockDiagonalMask)
    xf.ops = xf_ops
    sys.modules.setdefault("xformers", xf)
    sys.modules.setdefault("xformers.ops", xf_ops)

    fsdp = types.ModuleType("dinov2.fsdp")
    fsdp.get_fsdp_wrapper = lambda cfg, modules_to_wrap=None: (lambda m: m)
    fsdp.ShardedGradScaler = None
    fsdp.get_fsdp_modules = lambda m: [types.SimpleNamespace(params=list(m.parameters()))]
    fsdp.reshard_fsdp_model = lambda m: None
    sys.modules["dinov2.fsdp"] = fsdp

    from dinov2.models.vision_transformer import DinoVisionTransformer

    def forward_features_list(self, x_list, masks_list):
        return [self.forward_features(x, m) for x, m in zip(x_list, masks_list)]

    DinoVisionTransformer.forward_features_list = forward_features_list
    torch.Tensor.cuda = lambda self, *a, **k: self


def _load_ssl_meta_arch():
    path = os.path.join(REPO, "dinov2", "train", "ssl_meta_arch.py")
    spec = importlib.util.spec_from_file_location("official_ssl_meta_arch", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.SSLMetaArch


def _apply_optim_scheduler():
    path = os.path.join(REPO, "dinov2", "train", "train.py")
    tree = ast.parse(open(path, encoding="utf-8").read())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "apply_optim_scheduler")
    ns = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), path, "exec"), ns)
    return ns["apply_optim_scheduler"]


# --- configurations --------------------------------------------------------------------------------------
def ns(**kw):
    return types.SimpleNamespace(**kw)


# student_temp is not a setting of the official training (SSLMetaArch builds DINOLoss / iBOTPatchLoss with
# their default 0.1), so every case says 0.1. The first case has no qkv bias: the key bias gets a gradient
# that is pure rounding noise (softmax ignores a per-query constant), which AdamW's first steps turn into
# ±lr-sized updates, so over two iterations it would be compared noise against noise.
CASES = [
    dict(
        id="train/ssl_step/sep-ibot-centering",
        backbone=dict(img_size=56, patch_size=14, embed_dim=32, depth=2, num_heads=2, mlp_ratio=4.0, qkv_bias=False,
                      proj_bias=True, ffn_bias=True, init_values=1.0, ffn_layer="mlp", num_register_tokens=0,
                      interpolate_antialias=False, interpolate_offset=0.1),
        dino_head=dict(out_dim=48, hidden_dim=40, bottleneck_dim=24, nlayers=3),
        ibot_head=dict(out_dim=36, hidden_dim=32, bottleneck_dim=20, nlayers=2),
        ibot_separate_head=True, centering="centering",
        n_images=3, n_local_crops=3, local_size=28,
        teacher_temp=0.06, student_temp=0.1,
        dino_loss_weight=1.0, ibot_loss_weight=1.0, koleo_loss_weight=0.1,
        lr=2e-3, weight_decay=0.05, last_layer_lr=1e-3, layerwise_decay=0.8, patch_embed_lr_mult=0.2,
        clip_grad=3.0, teacher_momentum=0.98, steps=2,
    ),
    dict(
        id="train/ssl_step/swiglu-reg2-weights",
        backbone=dict(img_size=42, patch_size=14, embed_dim=40, depth=2, num_heads=5, mlp_ratio=3.0, qkv_bias=True,
                      proj_bias=True, ffn_bias=True, init_values=0.0, ffn_layer="swiglufused", num_register_tokens=2,
                      interpolate_antialias=True, interpolate_offset=0.0),
        dino_head=dict(out_dim=40, hidden_dim=48, bottleneck_dim=16, nlayers=2),
        ibot_separate_head=False, centering="sinkhorn_knopp",
        n_images=2, n_local_crops=1, local_size=28,
        teacher_temp=0.07, student_temp=0.1,
        dino_loss_weight=0.7, ibot_loss_weight=1.3, koleo_loss_weight=0.2,
        lr=1e-3, weight_decay=0.04, last_layer_lr=0.0, layerwise_decay=0.9, patch_embed_lr_mult=0.5,
        clip_grad=0.5, teacher_momentum=0.995, steps=1,
    ),
]


def official_cfg(c):
    b = c["backbone"]
    dh, ih = c["dino_head"], c.get("ibot_head") or c["dino_head"]
    return ns(
        compute_precision=ns(grad_scaler=False),
        student=ns(arch="vit_ssltest", patch_size=b["patch_size"], layerscale=b["init_values"] or None,
                   ffn_layer=b["ffn_layer"], block_chunks=0, qkv_bias=b["qkv_bias"], proj_bias=b["proj_bias"],
                   ffn_bias=b["ffn_bias"], num_register_tokens=b["num_register_tokens"],
                   interpolate_offset=b["interpolate_offset"], interpolate_antialias=b["interpolate_antialias"],
                   drop_path_rate=0.0, drop_path_uniform=True, pretrained_weights=""),
        dino=ns(loss_weight=c["dino_loss_weight"], head_n_prototypes=dh["out_dim"], head_bottleneck_dim=dh["bottleneck_dim"],
                head_hidden_dim=dh["hidden_dim"], head_nlayers=dh["nlayers"], koleo_loss_weight=c["koleo_loss_weight"]),
        ibot=ns(loss_weight=c["ibot_loss_weight"], mask_ratio_min_max=(0.1, 0.5), mask_sample_probability=0.5,
                separate_head=c["ibot_separate_head"], head_n_prototypes=ih["out_dim"], head_bottleneck_dim=ih["bottleneck_dim"],
                head_hidden_dim=ih["hidden_dim"], head_nlayers=ih["nlayers"]),
        crops=ns(global_crops_size=b["img_size"], local_crops_number=c["n_local_crops"], local_crops_size=c["local_size"]),
        train=ns(centering=c["centering"]),
        optim=ns(layerwise_decay=c["layerwise_decay"], patch_embed_lr_mult=c["patch_embed_lr_mult"],
                 clip_grad=c["clip_grad"], adamw_beta1=0.9, adamw_beta2=0.999),
    )


def register_arch(b):
    from dinov2.models import vision_transformer as vits

    vits.vit_ssltest = partial(vits.DinoVisionTransformer, embed_dim=b["embed_dim"], depth=b["depth"],
                               num_heads=b["num_heads"], mlp_ratio=b["mlp_ratio"],
                               block_fn=partial(vits.Block, attn_class=vits.MemEffAttention))


def randomize(model, g):
    """Random student weights (the official init leaves tokens ~0 and LayerScale constant), teacher = student + noise."""
    with torch.no_grad():
        for name, p in model.student.named_parameters():
            if name.endswith("weight_g"):
                p.copy_(1 + 0.1 * ms.randn(g, *p.shape))
            elif "norm" in name and name.endswith("weight") or name.endswith("gamma"):
                p.copy_(1 + 0.1 * ms.randn(g, *p.shape))
            elif p.dim() >= 2 and not name.endswith(("token", "tokens", "pos_embed")):
                p.copy_(ms.randn(g, *p.shape) / p.shape[-1] ** 0.5 * (1.0 if "backbone" in name else 1.5))
            else:
                p.copy_(0.2 * ms.randn(g, *p.shape))
        for k in model.student.keys():
            model.teacher[k].load_state_dict(model.student[k].state_dict())
        for p in model.teacher.parameters():
            p.add_(0.01 * ms.randn(g, *p.shape))


def collate(c, g, cfg):
    from dinov2.data.collate import collate_data_and_cast
    from dinov2.data.masking import MaskingGenerator

    S, s = c["backbone"]["img_size"], c["local_size"]
    n = S // c["backbone"]["patch_size"]
    samples = [({"global_crops": [ms.randn(g, 3, S, S) for _ in range(2)],
                 "local_crops": [ms.randn(g, 3, s, s) for _ in range(c["n_local_crops"])]}, None)
               for _ in range(c["n_images"])]
    gen = MaskingGenerator(input_size=(n, n), max_num_patches=0.5 * n * n)
    return collate_data_and_cast(samples, mask_ratio_tuple=cfg.ibot.mask_ratio_min_max,
                                 mask_probability=cfg.ibot.mask_sample_probability, n_tokens=n * n,
                                 mask_generator=gen, dtype=torch.float32)


def run_case(c, SSLMetaArch, apply_optim_scheduler):
    ms.ensure_dist()
    g = ms.gen(c["id"])
    random.seed(ms.seed_of(c["id"]))
    cfg = official_cfg(c)
    register_arch(c["backbone"])
    model = SSLMetaArch(cfg)
    model.train()
    model.need_to_synchronize_fsdp_streams = False  # fsdp_synchronize_streams would call torch.cuda
    randomize(model, g)

    tensors = {f"student.{k}": v.clone() for k, v in model.student.state_dict().items()}
    tensors.update({f"teacher.{k}": v.clone() for k, v in model.teacher.state_dict().items()})
    param_groups = {}
    for mod_name, m in model.student.items():
        from dinov2.utils.param_groups import get_params_groups_with_decay

        for d in get_params_groups_with_decay(m, lr_decay_rate=cfg.optim.layerwise_decay, patch_embed_lr_mult=cfg.optim.patch_embed_lr_mult):
            param_groups[f"{mod_name}.{d['name']}"] = dict(lr_multiplier=d["lr_multiplier"], wd_multiplier=d["wd_multiplier"], is_last_layer=d["is_last_layer"])

    optimizer = torch.optim.AdamW(model.get_params_groups(), betas=(cfg.optim.adamw_beta1, cfg.optim.adamw_beta2))
    apply_optim_scheduler(optimizer, c["lr"], c["weight_decay"], c["last_layer_lr"])

    # Record the teacher targets where the official code produces them.
    seen = {}

    def record(obj, method, key, squeeze=False):
        orig = getattr(obj, method)

        def wrapped(*a, **k):
            out = orig(*a, **k)
            seen[key] = out.squeeze(0) if squeeze else out
            return out

        setattr(obj, method, wrapped)

    B = c["n_images"]
    if c["centering"] == "centering":
        record(model.dino_loss, "softmax_center_teacher", "dino")
        record(model.ibot_patch_loss, "softmax_center_teacher", "ibot", squeeze=True)
    else:
        record(model.dino_loss, "sinkhorn_knopp_teacher", "dino")
        record(model.ibot_patch_loss, "sinkhorn_knopp_teacher", "ibot")

    for step in range(c["steps"]):
        data = collate(c, g, cfg)
        prefix = "input." if step == 0 else f"input.step{step}."
        tensors[prefix + "global_crops"] = data["collated_global_crops"]
        tensors[prefix + "local_crops"] = data["collated_local_crops"]
        tensors[prefix + "masks"] = data["collated_masks"].to(torch.uint8)
        optimizer.zero_grad(set_to_none=True)
        ld = model.forward_backward(data, teacher_temp=c["teacher_temp"])
        grads = {}
        for k, v in model.student.named_parameters():
            assert v.grad is not None, k
            grads[k] = v.grad.clone()  # before clipping
        norms = {k: float(torch.nn.utils.clip_grad_norm_(v.parameters(), cfg.optim.clip_grad)) for k, v in model.student.items()}
        optimizer.step()
        model.update_teacher(c["teacher_momentum"])
        if c["centering"] == "centering":
            # The official centers are updated lazily at the next softmax_center_teacher; apply now to record them.
            model.dino_loss.apply_center_update()
            model.ibot_patch_loss.apply_center_update()
        # Loss terms as they enter loss_accumulator (loss_dict divides koleo and ibot by 2).
        terms = {
            "dino_local_crops": cfg.dino.loss_weight * ld["dino_local_crops_loss"],
            "dino_global_crops": cfg.dino.loss_weight * ld["dino_global_crops_loss"],
            "koleo": ld["koleo_loss"] * 2,
            "ibot": cfg.ibot.loss_weight * (ld["ibot_loss"] * 2),
        }
        terms["total"] = terms["dino_local_crops"] + terms["dino_global_crops"] + terms["koleo"] + terms["ibot"]
        last = dict(terms=terms, norms=norms, grads=grads, n_masked=int(data["n_masked_patches"][0]))

    for k, gr in last["grads"].items():
        tensors[f"expected.grad.{k}"] = gr
    for t, v in last["terms"].items():
        tensors[f"expected.loss.{t}"] = v.detach().reshape(1)
    K = cfg.dino.head_n_prototypes
    tensors["expected.teacher_dino_targets"] = seen["dino"].reshape(2, B, K)
    tensors["expected.teacher_ibot_targets"] = seen["ibot"][: last["n_masked"]]
    tensors.update({f"expected.student_after.{k}": v.clone() for k, v in model.student.state_dict().items()})
    tensors.update({f"expected.teacher_after.{k}": v.clone() for k, v in model.teacher.state_dict().items()})
    if c["centering"] == "centering":
        tensors["expected.dino_center_after"] = model.dino_loss.center.clone()
        tensors["expected.ibot_center_after"] = model.ibot_patch_loss.center.clone()

    config = dict(
        backbone=dict(c["backbone"], name=c["id"].split("/")[-1]), dino_head=c["dino_head"],
        **({"ibot_head": c["ibot_head"]} if c["ibot_separate_head"] else {}),
        n_images=B, n_global_crops=2, n_local_crops=c["n_local_crops"], teacher_temp=c["teacher_temp"],
        student_temp=c["student_temp"], centering=c["centering"], dino_loss_weight=c["dino_loss_weight"],
        ibot_loss_weight=c["ibot_loss_weight"], koleo_loss_weight=c["koleo_loss_weight"],
        ibot_separate_head=c["ibot_separate_head"], clip_grad=c["clip_grad"], grad_norms_before_clip=last["norms"],
        lr=c["lr"], weight_decay=c["weight_decay"], last_layer_lr=c["last_layer_lr"], layerwise_decay=c["layerwise_decay"],
        patch_embed_lr_mult=c["patch_embed_lr_mult"], adamw_betas=[0.9, 0.999], adamw_eps=1e-8,
        teacher_momentum=c["teacher_momentum"], steps=c["steps"], param_groups=param_groups,
    )
    return config, tensors


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    _install_stubs()
    SSLMetaArch = _load_ssl_meta_arch()
    apply_optim_scheduler = _apply_optim_scheduler()
    torch.set_num_threads(1)
    cases = []
    for c in CASES:
        config, tensors = run_case(c, SSLMetaArch, apply_optim_scheduler)
        fname = "cases/" + c["id"].replace("/", "__") + ".safetensors"
        ms.write_safetensors(os.path.join(out, fname), tensors)
        cases.append(dict(id=c["id"], kind="train.ssl_step", file=fname, config=config, **TOL))
        print(c["id"], {k: round(float(v), 6) for k, v in config["grad_norms_before_clip"].items()})
    manifest = dict(format=1, generator="official facebookresearch/dinov2 SSLMetaArch via tools/make_suite/make_ssl_step.py",
                    models={}, cases=cases)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
