#!/usr/bin/env python3
"""Generate an independent DINOv2 conformance suite from the OFFICIAL facebookresearch/dinov2 code.

The suite has exactly the layout of /work/shared/conformance (manifest.json, models/, cases/, images/;
same key names, dtypes and tolerances), but other model configurations, input sizes, masks, head
shapes, loss settings, schedules and (synthetic) images, so that an implementation that only matches
the shared numbers is caught.

Usage:
    DINOV2_REPO=/path/to/dinov2 /usr/bin/python3 tools/make_suite/make_suite.py OUT_DIR
    DINOV2_REPO=/path/to/dinov2 /usr/bin/python3 tools/make_suite/make_suite.py --verify-shared /work/shared/conformance
    DINOV2_REPO=... /usr/bin/python3 tools/make_suite/make_suite.py --check OUT_DIR   # re-parse a written suite

  OUT_DIR        output folder (created; existing files of the same names are overwritten).
  --verify-shared DIR
                 recompute every case of an existing suite (all kinds except train.ssl_step/arch.shapes)
                 with the same code paths this generator uses and print the max difference per case:
                 a self-test of the generator's semantics against the shared suite.
  --check DIR    parse every safetensors header, torch.load every .pth, and check the manifest's files.

Requirements: torch (1.13 works; a scaled_dot_product_attention shim is installed when torch lacks it),
torchvision, PIL, numpy.  No safetensors / transformers / mmcv / xformers needed: safetensors files and
the Hugging Face folders are written by hand.  XFORMERS_DISABLED=1 is set before importing dinov2.

Everything is seeded (per-case seeds derived from the case id), so reruns give identical files.
The official code is only imported from DINOV2_REPO (never copied); `build_schedulers` is read from
dinov2/train/train.py with `ast` and executed on its own, because importing that module needs fvcore,
omegaconf and FSDP (which does not import under Python 3.11 + torch 1.13).
"""

import argparse
import ast
import copy
import io
import json
import math
import os
import struct
import sys
import zlib
from functools import partial

os.environ.setdefault("XFORMERS_DISABLED", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO = os.environ.get("DINOV2_REPO")
if not REPO or not os.path.isdir(os.path.join(REPO, "dinov2")):
    sys.exit("set DINOV2_REPO to a checkout of facebookresearch/dinov2 (the folder that contains dinov2/)")
sys.path.insert(0, REPO)

# --- torch < 2.0 compatibility: the official Attention calls F.scaled_dot_product_attention. ------------
SDPA_SHIM = False
if not hasattr(F, "scaled_dot_product_attention"):
    SDPA_SHIM = True

    def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
        # torch's documented math: softmax(q k^T * scale) v with scale = 1/sqrt(E); no mask/dropout used here.
        assert attn_mask is None and not is_causal and dropout_p == 0.0
        s = scale if scale is not None else 1.0 / math.sqrt(q.size(-1))
        return torch.softmax((q @ k.transpose(-2, -1)) * s, dim=-1) @ v

    F.scaled_dot_product_attention = _sdpa

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

from dinov2.models.vision_transformer import DinoVisionTransformer  # noqa: E402
from dinov2.layers import MemEffAttention, NestedTensorBlock  # noqa: E402
from dinov2.layers.dino_head import DINOHead  # noqa: E402
from dinov2.loss import DINOLoss, iBOTPatchLoss, KoLeoLoss  # noqa: E402
from dinov2.hub.classifiers import _LinearClassifierWrapper  # noqa: E402
from dinov2.hub.depthers import _make_dinov2_linear_depth_head  # noqa: E402
from dinov2.hub.depth import DepthEncoderDecoder  # noqa: E402
from dinov2.hub.utils import CenterPadding  # noqa: E402
from dinov2.data.transforms import make_classification_eval_transform  # noqa: E402
from dinov2.utils.utils import CosineScheduler  # noqa: E402

# ---------------------------------------------------------------------------------------------------------
# safetensors, by hand (same byte layout as the shared suite: keys sorted by name, data in that order,
# compact JSON header padded with spaces to a multiple of 8 bytes, no __metadata__).
# ---------------------------------------------------------------------------------------------------------
_DT = {torch.float32: "F32", torch.float64: "F64", torch.uint8: "U8", torch.int64: "I64", torch.int32: "I32",
       torch.float16: "F16"}
_NP = {"F32": np.float32, "F64": np.float64, "U8": np.uint8, "I64": np.int64, "I32": np.int32, "F16": np.float16,
       "BOOL": np.bool_, "BF16": None}


def write_safetensors(path, tensors):
    assert sys.byteorder == "little"
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k]
        if not isinstance(t, torch.Tensor):
            t = torch.as_tensor(t)
        t = t.detach().cpu()
        if t.dtype == torch.bool:
            t = t.to(torch.uint8)
        t = t.contiguous()
        b = t.numpy().tobytes()  # little-endian hosts (x86/arm); safetensors is little-endian
        header[k] = {"dtype": _DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    header = json.loads(buf[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        a = np.frombuffer(buf[8 + n + s:8 + n + e], dtype=_NP[v["dtype"]]).reshape(v["shape"])
        out[k] = torch.from_numpy(a.copy())
    return out


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------
def seed_of(name):
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def gen(name):
    g = torch.Generator()
    g.manual_seed(seed_of(name))
    return g


def randn(g, *shape):
    return torch.randn(*shape, generator=g, dtype=torch.float32)


def rand(g, *shape):
    return torch.rand(*shape, generator=g, dtype=torch.float32)


# Tolerances: the shared suite's, per kind.
TOL = {
    "backbone.forward_features": dict(atol=1e-4, rtol=1e-4),
    "backbone.intermediate_layers": dict(atol=1e-4, rtol=1e-4),
    "head.classifier": dict(atol=1e-4, rtol=1e-4),
    "head.depth_linear": dict(atol=1e-3, rtol=1e-4),
    "head.dino": dict(atol=1e-5, rtol=1e-4),
    "loss.dino": dict(atol=1e-5, rtol=1e-4),
    "loss.ibot": dict(atol=1e-5, rtol=1e-4),
    "loss.koleo": dict(atol=1e-5, rtol=1e-4),
    "schedule": dict(atol=1e-12, rtol=1e-9),
    "preprocess.eval": dict(atol=0.05, mean_atol=0.005),
}

# ---------------------------------------------------------------------------------------------------------
# Models.  Config keys/order mirror the shared manifest; `hf` says whether a Hugging Face folder is
# written (only where transformers' Dinov2Model can express the model exactly: LayerScale present and
# projection / FFN biases present -- transformers always has those).
# ---------------------------------------------------------------------------------------------------------
def model_config(name, img_size, embed_dim, depth, num_heads, mlp_ratio=4.0, qkv_bias=True, proj_bias=True,
                 ffn_bias=True, init_values=1.0, ffn_layer="mlp", num_register_tokens=0,
                 interpolate_antialias=False, interpolate_offset=0.1):
    return {
        "img_size": img_size, "patch_size": 14, "embed_dim": embed_dim, "depth": depth, "num_heads": num_heads,
        "mlp_ratio": float(mlp_ratio), "qkv_bias": qkv_bias, "proj_bias": proj_bias, "ffn_bias": ffn_bias,
        "init_values": float(init_values), "name": name, "ffn_layer": ffn_layer,
        "num_register_tokens": num_register_tokens, "interpolate_antialias": interpolate_antialias,
        "interpolate_offset": float(interpolate_offset),
    }


MODELS = [
    # no LayerScale keys at all (init_values 0), no qkv bias, MLP without biases; offset 0.1, no antialias.
    model_config("small-noLS", 70, 64, 2, 4, qkv_bias=False, ffn_bias=False, init_values=0.0),
    # 2 registers with the scale-factor (offset 0.1) path and no antialias; no qkv bias.
    model_config("reg2-offset", 42, 32, 3, 2, qkv_bias=False, init_values=1e-5, num_register_tokens=2,
                 interpolate_antialias=False, interpolate_offset=0.1),
    # hub-like registers model (antialias, size path) with head dim 12 and mlp_ratio 2.5 (hidden 120).
    model_config("reg4-aa", 98, 48, 4, 4, mlp_ratio=2.5, num_register_tokens=4, interpolate_antialias=True,
                 interpolate_offset=0.0),
    # SwiGLU with mlp_ratio 3.5: int(40*3.5)=140 -> int(140*2/3)=93 -> rounded up to 96; antialias WITH offset.
    model_config("swiglu-r3", 56, 40, 2, 5, mlp_ratio=3.5, ffn_layer="swiglufused", interpolate_antialias=True,
                 interpolate_offset=0.1),
    # SwiGLU without attention-projection / FFN biases; size path (offset 0) without antialias.
    model_config("swiglu-nb", 28, 24, 2, 3, proj_bias=False, ffn_bias=False, ffn_layer="swiglufused",
                 interpolate_antialias=False, interpolate_offset=0.0),
    # depth 6 for the classification / depth heads ("last 4" != "all 4"; out_index not the hub's).
    model_config("d6-heads", 56, 36, 6, 3),
]
HF_MODELS = {"reg2-offset", "reg4-aa", "swiglu-r3", "d6-heads"}


def build_backbone(cfg):
    # block_chunks=0 -> flat `blocks.N.*` names (the hub layout); MemEffAttention like the hub models.
    return DinoVisionTransformer(
        img_size=cfg["img_size"], patch_size=cfg["patch_size"], embed_dim=cfg["embed_dim"], depth=cfg["depth"],
        num_heads=cfg["num_heads"], mlp_ratio=cfg["mlp_ratio"], qkv_bias=cfg["qkv_bias"],
        proj_bias=cfg["proj_bias"], ffn_bias=cfg["ffn_bias"], init_values=cfg["init_values"] or None,
        ffn_layer=cfg["ffn_layer"], num_register_tokens=cfg["num_register_tokens"],
        interpolate_antialias=cfg["interpolate_antialias"], interpolate_offset=cfg["interpolate_offset"],
        block_fn=partial(NestedTensorBlock, attn_class=MemEffAttention), block_chunks=0,
    ).eval()


def randomize_backbone(model, name):
    """Random (non-init) values for every tensor so that every parameter matters."""
    g = gen("weights/" + name)
    with torch.no_grad():
        for k, p in model.named_parameters():
            if k in ("cls_token", "register_tokens", "mask_token"):
                v = randn(g, *p.shape)
            elif k == "pos_embed":
                v = 0.5 * randn(g, *p.shape)
            elif k.endswith("gamma"):
                v = 0.3 + 0.8 * rand(g, *p.shape)
            elif ("norm" in k) and k.endswith("weight"):
                v = 1.0 + 0.2 * randn(g, *p.shape)
            elif k.endswith("bias"):
                v = 0.1 * randn(g, *p.shape)
            elif k == "patch_embed.proj.weight":
                v = 0.1 * randn(g, *p.shape)
            else:  # Linear weights [out, in]
                v = (1.4 / math.sqrt(p.shape[1])) * randn(g, *p.shape)
            p.copy_(v)
    return model


def official_state_dict(model):
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def to_hf(sd, cfg):
    """Official -> transformers Dinov2Model / Dinov2WithRegistersModel names (convert_dinov2_to_hf.py)."""
    D = cfg["embed_dim"]
    out = {}
    for k, v in sd.items():
        if k == "cls_token":
            out["embeddings.cls_token"] = v
        elif k == "mask_token":
            out["embeddings.mask_token"] = v
        elif k == "pos_embed":
            out["embeddings.position_embeddings"] = v
        elif k == "register_tokens":
            out["embeddings.register_tokens"] = v
        elif k.startswith("patch_embed.proj."):
            out["embeddings.patch_embeddings.projection." + k.split(".")[-1]] = v
        elif k.startswith("norm."):
            out["layernorm." + k.split(".")[-1]] = v
        elif k.startswith("blocks."):
            _, i, rest = k.split(".", 2)
            p = f"encoder.layer.{i}."
            if rest.startswith("attn.qkv."):
                kind = rest.split(".")[-1]
                for j, nm in enumerate(("query", "key", "value")):
                    out[p + f"attention.attention.{nm}.{kind}"] = v[j * D:(j + 1) * D].clone()
            elif rest.startswith("attn.proj."):
                out[p + "attention.output.dense." + rest.split(".")[-1]] = v
            elif rest == "ls1.gamma":
                out[p + "layer_scale1.lambda1"] = v
            elif rest == "ls2.gamma":
                out[p + "layer_scale2.lambda1"] = v
            elif rest.startswith("mlp.w12."):
                out[p + "mlp.weights_in." + rest.split(".")[-1]] = v
            elif rest.startswith("mlp.w3."):
                out[p + "mlp.weights_out." + rest.split(".")[-1]] = v
            elif rest.split(".")[0] in ("norm1", "norm2", "mlp"):
                out[p + rest] = v
            else:
                raise KeyError(k)
        else:
            raise KeyError(k)
    return out


def hf_config(cfg):
    reg = cfg["num_register_tokens"] > 0
    L = cfg["depth"]
    c = {
        "apply_layernorm": True,
        "architectures": ["Dinov2WithRegistersModel" if reg else "Dinov2Model"],
        "attention_probs_dropout_prob": 0.0,
        "drop_path_rate": 0.0,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "hidden_size": cfg["embed_dim"],
        "image_size": cfg["img_size"],
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-06,
        "layerscale_value": cfg["init_values"],
        "mlp_ratio": cfg["mlp_ratio"],
        "model_type": "dinov2_with_registers" if reg else "dinov2",
        "num_attention_heads": cfg["num_heads"],
        "num_channels": 3,
        "num_hidden_layers": L,
        "out_features": [f"stage{L}"],
        "out_indices": [L],
        "patch_size": cfg["patch_size"],
        "qkv_bias": cfg["qkv_bias"],
        "reshape_hidden_states": True,
        "stage_names": ["stem"] + [f"stage{i}" for i in range(1, L + 1)],
        "use_swiglu_ffn": cfg["ffn_layer"] != "mlp",
    }
    if reg:
        c["num_register_tokens"] = cfg["num_register_tokens"]
    else:
        c["use_mask_token"] = True
    return dict(sorted(c.items()))


# ---------------------------------------------------------------------------------------------------------
# Computations (official code paths).  Each returns the dict of `expected.*` tensors.
# ---------------------------------------------------------------------------------------------------------
@torch.no_grad()
def compute_forward(model, x, masks=None):
    out = model.forward_features(x, masks=None if masks is None else masks.bool())
    return {f"expected.{k}": out[k] for k in ("x_norm_clstoken", "x_norm_regtokens", "x_norm_patchtokens",
                                              "x_prenorm")}


@torch.no_grad()
def compute_intermediate(model, x, calls):
    res = {}
    for key, call in calls.items():
        outs = model.get_intermediate_layers(x, **call)
        for i, o in enumerate(outs):
            if call["return_class_token"]:
                res[f"expected.{key}.{i}.patch"] = o[0]
                res[f"expected.{key}.{i}.cls"] = o[1]
            else:
                res[f"expected.{key}.{i}.patch"] = o
    return res


@torch.no_grad()
def compute_classifier(model, x, weight, bias, layers):
    head = nn.Linear(weight.shape[1], weight.shape[0])
    head.load_state_dict({"weight": weight, "bias": bias}, strict=True)
    wrapper = _LinearClassifierWrapper(backbone=model, linear_head=head, layers=layers).eval()
    return {"expected.logits": wrapper(x)}


def compute_depth(model, x, weights, layers, out_index):
    backbone = copy.deepcopy(model)
    head = _make_dinov2_linear_depth_head(embed_dim=backbone.embed_dim, layers=layers, min_depth=0.001,
                                          max_depth=80.0)
    depther = DepthEncoderDecoder(backbone=backbone, decode_head=head)
    # the wiring of dinov2/hub/depthers.py::_make_dinov2_linear_depther
    depther.backbone.forward = partial(backbone.get_intermediate_layers, n=out_index, reshape=True,
                                       return_class_token=True, norm=False)
    depther.backbone.register_forward_pre_hook(lambda _, xx: CenterPadding(backbone.patch_size)(xx[0]))
    sd = {k[len("decode_head."):]: v for k, v in weights.items()}
    missing, unexpected = depther.decode_head.load_state_dict(sd, strict=False)
    assert not unexpected and all(not m.startswith("conv_depth") for m in missing), (missing, unexpected)
    depther.eval()
    with torch.inference_mode():
        y = depther.encode_decode(x, None)  # clamp to [min,max], bilinear resize to the unpadded input size
    return {"expected.depth": y.clone()}


def make_dino_head(cfg):
    return DINOHead(in_dim=cfg["in_dim"], out_dim=cfg["out_dim"], nlayers=cfg["nlayers"],
                    hidden_dim=cfg["hidden_dim"], bottleneck_dim=cfg["bottleneck_dim"])


def compute_dino_head(cfg, weights, x, grad_y):
    head = make_dino_head(cfg)
    names = [n for n, _ in head.named_parameters()]
    with torch.no_grad():
        for n, p in head.named_parameters():
            p.copy_(weights["weights." + n])
    xx = x.clone().requires_grad_(True)
    y = head(xx)
    y.backward(grad_y)
    res = {"expected.y": y.detach(), "expected.grad_x": xx.grad}
    for n, p in head.named_parameters():
        res["expected.grad." + n] = p.grad.clone()
    return res, names


_DIST = False


def ensure_dist():
    # iBOTPatchLoss.sinkhorn_knopp_teacher calls dist.all_reduce unconditionally: one-process gloo group.
    global _DIST
    import torch.distributed as dist
    if not dist.is_initialized():
        import tempfile
        fd, fname = tempfile.mkstemp(prefix="make_suite_pg_")
        os.close(fd)
        os.unlink(fname)
        dist.init_process_group("gloo", init_method="file://" + fname, rank=0, world_size=1)
    _DIST = True


def compute_loss_dino(p, student, teacher, center):
    ensure_dist()
    K = student.shape[1]
    loss_mod = DINOLoss(K, student_temp=p["student_temp"], center_momentum=p["center_momentum"])
    loss_mod.center = center.clone()
    softmax_center = loss_mod.softmax_center_teacher(teacher, teacher_temp=p["teacher_temp"])
    loss_mod.update_center(teacher)
    loss_mod.apply_center_update()
    center_after = loss_mod.center.clone()
    targets = loss_mod.sinkhorn_knopp_teacher(teacher, teacher_temp=p["teacher_temp"],
                                              n_iterations=p["sinkhorn_iterations"])
    s = student.clone().requires_grad_(True)
    loss = loss_mod(student_output_list=list(s.chunk(p["chunks"])),
                    teacher_out_softmaxed_centered_list=list(targets.chunk(p["chunks"])))
    loss.backward()
    return {"expected.softmax_center": softmax_center, "expected.center_after_update": center_after,
            "expected.sinkhorn": targets, "expected.loss": loss.detach().reshape(1), "expected.grad_student": s.grad}


def compute_loss_ibot(p, student_masked, teacher_masked, center, masks):
    ensure_dist()
    K = student_masked.shape[1]
    masks_b = masks.bool()
    M = int(masks_b.sum())
    assert student_masked.shape[0] == M
    loss_mod = iBOTPatchLoss(K, student_temp=p["student_temp"])
    loss_mod.center = center.clone()
    softmax_center = loss_mod.softmax_center_teacher(teacher_masked.unsqueeze(0), teacher_temp=p["teacher_temp"])
    n_masked = torch.full((1,), fill_value=M, dtype=torch.long)
    targets = loss_mod.sinkhorn_knopp_teacher(teacher_masked, teacher_temp=p["teacher_temp"],
                                              n_masked_patches_tensor=n_masked,
                                              n_iterations=p["sinkhorn_iterations"])
    # masks_weight exactly as dinov2/data/collate.py builds it
    masks_weight = (1 / masks_b.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(masks_b)[masks_b]
    s = student_masked.clone().requires_grad_(True)
    loss = loss_mod.forward_masked(s, targets, student_masks_flat=masks_b, n_masked_patches=M,
                                   masks_weight=masks_weight)
    loss.backward()
    return {"expected.masks_weight": masks_weight, "expected.softmax_center": softmax_center.squeeze(0),
            "expected.sinkhorn": targets, "expected.loss": loss.detach().reshape(1), "expected.grad_student": s.grad}


def compute_koleo(x):
    xx = x.clone().requires_grad_(True)
    loss = KoLeoLoss()(xx)
    loss.backward()
    return {"expected.loss": loss.detach().reshape(1), "expected.grad_x": xx.grad}


class _Cfg(dict):
    __getattr__ = dict.__getitem__


def official_build_schedulers():
    """dinov2/train/train.py::build_schedulers, executed from the repo's source (see module docstring)."""
    path = os.path.join(REPO, "dinov2", "train", "train.py")
    src = open(path, encoding="utf-8").read()
    tree = ast.parse(src)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "build_schedulers")
    ns = {"CosineScheduler": CosineScheduler, "logger": __import__("logging").getLogger("dinov2")}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), path, "exec"), ns)
    return ns["build_schedulers"]


def compute_schedule(c, n_iters):
    cfg = _Cfg(
        train=_Cfg(OFFICIAL_EPOCH_LENGTH=c["epoch_length"]),
        optim=_Cfg(lr=c["lr"], min_lr=c["min_lr"], epochs=c["epochs"], warmup_epochs=c["warmup_epochs"],
                   weight_decay=c["weight_decay"], weight_decay_end=c["weight_decay_end"],
                   freeze_last_layer_epochs=c["freeze_last_layer_epochs"]),
        teacher=_Cfg(momentum_teacher=c["momentum_teacher"], final_momentum_teacher=c["final_momentum_teacher"],
                     teacher_temp=c["teacher_temp"], warmup_teacher_temp=c["warmup_teacher_temp"],
                     warmup_teacher_temp_epochs=c["warmup_teacher_temp_epochs"]),
    )
    lr, wd, mom, tt, ll = official_build_schedulers()(cfg)
    f = lambda s: torch.tensor([float(s[i]) for i in range(n_iters)], dtype=torch.float64)  # noqa: E731
    return {"expected.lr": f(lr), "expected.wd": f(wd), "expected.momentum": f(mom),
            "expected.teacher_temp": f(tt), "expected.last_layer_lr": f(ll)}


EVAL_TRANSFORM = {"resize": 256, "interpolation": "bicubic (PIL)", "center_crop": 224,
                  "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def compute_preprocess(image_path):
    from PIL import Image
    with open(image_path, "rb") as f:
        img = Image.open(f).convert(mode="RGB")  # dinov2/data/datasets/decoders.py::ImageDataDecoder
    return {"expected.x": make_classification_eval_transform()(img)}


# ---------------------------------------------------------------------------------------------------------
# Synthetic images
# ---------------------------------------------------------------------------------------------------------
def synth_rgb(w, h, seed):
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * (xx / max(w - 1, 1))
    gch = 255 * (yy / max(h - 1, 1))
    b = 127.5 + 127.5 * np.sin(xx / 7.3 + yy / 11.1)
    a = np.stack([r, gch, b], -1)
    a += rng.normal(0, 12, a.shape)  # some high-frequency content so resampling matters
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(14):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(5, w // 2)), y0 + int(rng.integers(5, h // 2))
        col = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            d.rectangle([x0, y0, x1, y1], fill=col)
        else:
            d.ellipse([x0, y0, x1, y1], fill=col)
    for i in range(0, w, 9):  # thin lines: aliasing-sensitive
        d.line([(i, 0), (i, h - 1)], fill=(255, 255, 255) if (i // 9) % 2 else (0, 0, 0), width=1)
    return img


IMAGES = [
    # name, (w, h), mode, format; sizes chosen so some centre crops hit the round-half-even offset case
    # ((H'-224) % 4 == 3 after the resize) and one image is upsampled by the resize.
    ("synth_520x333.png", (520, 333), "RGB", "PNG"),    # resized to 399x256: crop left round(87.5)=88
    ("gray_389x256.png", (389, 256), "L", "PNG"),       # grayscale; short side already 256 (no resize)
    ("photo_q90.jpg", (640, 427), "RGB", "JPEG"),       # PIL JPEG quality 90, 4:2:0; resized to 383x256
    ("portrait_300x473.png", (300, 473), "RGB", "PNG"),  # portrait; resized to 256x403: crop top round(89.5)=90
    ("small_150x190.png", (150, 190), "RGB", "PNG"),    # upsampled to 256x324
]


def write_image(path, w, h, mode, fmt, seed):
    img = synth_rgb(w, h, seed)
    if mode == "L":
        img = img.convert("L")
    if fmt == "JPEG":
        img.save(path, format="JPEG", quality=90)
    else:
        img.save(path, format="PNG")


# ---------------------------------------------------------------------------------------------------------
# Suite definition
# ---------------------------------------------------------------------------------------------------------
FORWARD = {  # model -> list of (B, H, W) ; masked -> list of (B, H, W)
    "small-noLS": dict(
        forward=[(1, 70, 70), (3, 42, 126), (1, 154, 28), (2, 112, 140), (1, 14, 350), (1, 14, 14)],
        masked=[(3, 70, 70), (2, 42, 126)],
        intermediate=[(1, 70, 70), (2, 42, 126), (1, 154, 28)],
        calls={
            "last2_reshape_cls_raw": dict(n=2, reshape=True, return_class_token=True, norm=False),
            "idx1_norm": dict(n=[1], reshape=False, return_class_token=False, norm=True),
            "idx0_reshape_cls_norm": dict(n=[0], reshape=True, return_class_token=True, norm=True),
        }),
    "reg2-offset": dict(
        forward=[(2, 42, 42), (1, 98, 70), (3, 28, 56), (1, 126, 126), (1, 14, 126)],
        masked=[(3, 42, 42), (1, 56, 84)],
        intermediate=[(2, 42, 42), (1, 98, 70)],
        calls={
            "last3_reshape_cls_raw": dict(n=3, reshape=True, return_class_token=True, norm=False),
            "idx1_norm": dict(n=[1], reshape=False, return_class_token=False, norm=True),
            "unsorted_2_0_cls_norm": dict(n=[2, 0], reshape=False, return_class_token=True, norm=True),
        }),
    "reg4-aa": dict(
        forward=[(1, 98, 98), (3, 56, 84), (1, 140, 196), (1, 42, 126), (1, 154, 28), (1, 14, 686)],
        masked=[(2, 98, 98), (3, 56, 84)],
        intermediate=[(1, 98, 98), (2, 70, 42)],
        calls={
            "last3_reshape_cls_raw": dict(n=3, reshape=True, return_class_token=True, norm=False),
            "idx1_norm": dict(n=[1], reshape=False, return_class_token=False, norm=True),
            "unsorted_3_0_2_reshape_raw": dict(n=[3, 0, 2], reshape=True, return_class_token=False, norm=False),
        }),
    "swiglu-r3": dict(
        forward=[(1, 56, 56), (2, 28, 42), (1, 112, 84), (3, 42, 126), (1, 28, 112)],
        masked=[(3, 56, 56)],
        intermediate=[(1, 56, 56), (1, 112, 84)],
        calls={
            "last1_reshape_norm": dict(n=1, reshape=True, return_class_token=False, norm=True),
            "all_cls_raw": dict(n=[0, 1], reshape=False, return_class_token=True, norm=False),
        }),
    "swiglu-nb": dict(
        forward=[(1, 28, 28), (2, 56, 70), (1, 14, 28), (1, 14, 56)],
        masked=[(3, 28, 28)],
        intermediate=[(1, 42, 42)],
        calls={
            "last2_reshape_cls_raw": dict(n=2, reshape=True, return_class_token=True, norm=False),
            "idx0_norm": dict(n=[0], reshape=False, return_class_token=False, norm=True),
        }),
    "d6-heads": dict(
        forward=[(1, 56, 56), (2, 70, 98)],
        masked=[],
        intermediate=[(1, 84, 56)],
        calls={
            "last4_cls_norm": dict(n=4, reshape=False, return_class_token=True, norm=True),
            "unsorted_5_1_3_reshape_cls_raw": dict(n=[5, 1, 3], reshape=True, return_class_token=True, norm=False),
        }),
}

CLASSIFIER = [  # (model, layers, (B,H,W), id suffix)
    ("d6-heads", 1, (2, 56, 84), ""),
    ("d6-heads", 4, (3, 70, 42), ""),
    ("reg4-aa", 1, (1, 98, 98), ""),
    ("reg4-aa", 4, (2, 56, 84), ""),
    ("small-noLS", 1, (2, 42, 126), ""),
]
N_CLASSES = 7

DEPTH = [  # (model, layers, out_index, (B,H,W), id suffix)
    ("d6-heads", 1, [5], (1, 45, 71), ""),
    ("d6-heads", 4, [0, 2, 4, 5], (2, 30, 58), ""),
    ("d6-heads", 1, [3], (1, 56, 84), "_outindex3_nopad"),
    ("reg4-aa", 1, [3], (1, 45, 71), ""),
    ("reg4-aa", 4, [0, 1, 2, 3], (1, 100, 61), ""),
]

DINO_HEADS = [
    ("head/dino_nl3", dict(in_dim=40, out_dim=77, hidden_dim=56, bottleneck_dim=24, nlayers=3), 11),
    ("head/dino_nl2", dict(in_dim=24, out_dim=50, hidden_dim=32, bottleneck_dim=16, nlayers=2), 5),
]

LOSS_DINO = [  # id, params, B, K
    ("loss/dino", dict(teacher_temp=0.06, student_temp=0.1, center_momentum=0.9, sinkhorn_iterations=3,
                       chunks=3), 12, 65),
    ("loss/dino_params", dict(teacher_temp=0.04, student_temp=0.2, center_momentum=0.8, sinkhorn_iterations=5,
                              chunks=2), 6, 33),
]

LOSS_IBOT = [  # id, params, (n_images, N), K
    ("loss/ibot", dict(teacher_temp=0.05, student_temp=0.1, sinkhorn_iterations=3), (5, 12), 40),
    ("loss/ibot_params", dict(teacher_temp=0.07, student_temp=0.15, sinkhorn_iterations=4), (3, 9), 21),
]

LOSS_KOLEO = [("loss/koleo", (10, 24)), ("loss/koleo_small", (5, 9))]

SCHEDULES = [
    ("schedule/cosine", dict(lr=0.002, min_lr=2e-06, warmup_epochs=3, weight_decay=0.05, weight_decay_end=0.3,
                             momentum_teacher=0.994, final_momentum_teacher=1.0, teacher_temp=0.06,
                             warmup_teacher_temp=0.03, warmup_teacher_temp_epochs=4, freeze_last_layer_epochs=2,
                             epochs=7, epoch_length=13), 9),
    # no lr warm-up, no frozen last layer, teacher-temperature warm-up longer than the run
    ("schedule/cosine_nowarmup", dict(lr=0.0005, min_lr=1e-05, warmup_epochs=0, weight_decay=0.04,
                                      weight_decay_end=0.1, momentum_teacher=0.9, final_momentum_teacher=0.999,
                                      teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_teacher_temp_epochs=6,
                                      freeze_last_layer_epochs=0, epochs=5, epoch_length=11), 4),
]


def fname(case_id):
    return "cases/" + case_id.replace("/", "__") + ".safetensors"


def make_masks(g, B, N, case_id):
    """Random masks; with B>=2 one row is all-False, with B>=3 another row is all-True."""
    m = rand(g, B, N) < 0.4
    for b in range(B):  # keep random rows non-trivial
        if not m[b].any():
            m[b, 0] = True
        if m[b].all():
            m[b, -1] = False
    if B >= 2:
        m[1] = False
    if B >= 3:
        m[2] = True
    return m


def build(out):
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    os.makedirs(out, exist_ok=True)
    for sub in ("models", "cases", "images"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    manifest = {
        "format": 1,
        "generator": f"tools/make_suite/make_suite.py with the official facebookresearch/dinov2 code, torch {torch.__version__}",
        "models": {},
        "cases": [],
        "notes": {
            "hf": "models/<name>-hf holds the same weights in the Hugging Face transformers layout (model.safetensors + "
                  "config.json), written by make_suite.py without transformers (key mapping of convert_dinov2_to_hf.py). "
                  "Only for models transformers can express exactly (LayerScale and projection/FFN biases present). The "
                  "manifest config (interpolation settings included) is authoritative.",
            "weights": "all parameters are random (not the official init), so every tensor matters",
            "attention": ("torch < 2.0 has no scaled_dot_product_attention; the generator installed the documented math "
                          "softmax(q k^T / sqrt(E)) v in its place" if SDPA_SHIM else "torch's scaled_dot_product_attention"),
        },
    }
    models = {}
    for cfg in MODELS:
        name = cfg["name"]
        m = randomize_backbone(build_backbone(cfg), name)
        models[name] = m
        sd = official_state_dict(m)
        entry = {"config": cfg, "pth": f"models/{name}.pth", "safetensors": f"models/{name}.safetensors"}
        torch.save(sd, os.path.join(out, entry["pth"]))
        write_safetensors(os.path.join(out, entry["safetensors"]), sd)
        if name in HF_MODELS:
            entry["hf"] = f"models/{name}-hf"
            d = os.path.join(out, entry["hf"])
            os.makedirs(d, exist_ok=True)
            write_safetensors(os.path.join(d, "model.safetensors"), to_hf(sd, cfg))
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(hf_config(cfg), f, indent=2)
                f.write("\n")
        manifest["models"][name] = entry

    cases = manifest["cases"]

    def add(case, tensors):
        write_safetensors(os.path.join(out, case["file"]), tensors)
        cases.append(case)
        print(f"  {case['id']}", flush=True)

    # backbone cases
    for name, spec in FORWARD.items():
        m = models[name]
        for (B, H, W) in spec["forward"]:
            cid = f"{name}/forward/{B}x{H}x{W}"
            x = randn(gen(cid), B, 3, H, W)
            add(dict(id=cid, kind="backbone.forward_features", file=fname(cid), model=name,
                     **TOL["backbone.forward_features"]), {"input.x": x, **compute_forward(m, x)})
        for (B, H, W) in spec["masked"]:
            cid = f"{name}/forward_masked/{B}x{H}x{W}"
            g = gen(cid)
            x = randn(g, B, 3, H, W)
            masks = make_masks(g, B, (H // 14) * (W // 14), cid)
            add(dict(id=cid, kind="backbone.forward_features", file=fname(cid), model=name,
                     **TOL["backbone.forward_features"]),
                {"input.x": x, "input.masks": masks.to(torch.uint8), **compute_forward(m, x, masks)})
        for (B, H, W) in spec["intermediate"]:
            cid = f"{name}/intermediate/{B}x{H}x{W}"
            x = randn(gen(cid), B, 3, H, W)
            add(dict(id=cid, kind="backbone.intermediate_layers", file=fname(cid), model=name, calls=spec["calls"],
                     **TOL["backbone.intermediate_layers"]), {"input.x": x, **compute_intermediate(m, x, spec["calls"])})

    for name, layers, (B, H, W), suf in CLASSIFIER:
        cid = f"{name}/classifier_linear{layers}{suf}"
        g = gen(cid)
        x = randn(g, B, 3, H, W)
        D = models[name].embed_dim
        w = 0.2 * randn(g, N_CLASSES, (1 + layers) * D)
        b = 0.1 * randn(g, N_CLASSES)
        add(dict(id=cid, kind="head.classifier", file=fname(cid), model=name, layers=layers, **TOL["head.classifier"]),
            {"input.x": x, "weights.weight": w, "weights.bias": b, **compute_classifier(models[name], x, w, b, layers)})

    for name, layers, out_index, (B, H, W), suf in DEPTH:
        cid = f"{name}/depth_linear{layers}{suf}"
        g = gen(cid)
        x = randn(g, B, 3, H, W)
        D = models[name].embed_dim
        C = 2 * D * layers
        w = {"weights.decode_head.conv_depth.weight": (0.7 / math.sqrt(C)) * randn(g, 256, C, 1, 1),
             "weights.decode_head.conv_depth.bias": 0.1 * randn(g, 256)}
        exp = compute_depth(models[name], x, {k[len("weights."):]: v for k, v in w.items()}, layers, out_index)
        add(dict(id=cid, kind="head.depth_linear", file=fname(cid), model=name, layers=layers, out_index=out_index,
                 n_bins=256, bins_strategy="UD", norm_strategy="linear", upsample=4, min_depth=0.001, max_depth=80.0,
                 **TOL["head.depth_linear"]), {"input.x": x, **w, **exp})

    for cid, cfg, N in DINO_HEADS:
        g = gen(cid)
        head = make_dino_head(cfg)
        weights = {}
        for n, p in head.named_parameters():
            if n.endswith("weight_g"):
                v = 0.5 + rand(g, *p.shape)
            elif n.endswith("bias"):
                v = 0.1 * randn(g, *p.shape)
            else:
                v = 0.2 * randn(g, *p.shape)
            weights["weights." + n] = v
        x = randn(g, N, cfg["in_dim"])
        gy = randn(g, N, cfg["out_dim"])
        exp, _ = compute_dino_head(cfg, weights, x, gy)
        add(dict(id=cid, kind="head.dino", file=fname(cid), config=cfg, **TOL["head.dino"]),
            {"input.x": x, "input.grad_y": gy, **weights, **exp})

    for cid, p, B, K in LOSS_DINO:
        g = gen(cid)
        student = 2.0 * randn(g, B, K)
        teacher = 0.8 * randn(g, B, K)  # |t|/teacher_temp stays far below exp()'s float32 overflow (88.7)
        center = 0.3 * randn(g, 1, K)
        add(dict(id=cid, kind="loss.dino", file=fname(cid), **p, **TOL["loss.dino"]),
            {"input.student": student, "input.teacher": teacher, "input.center": center,
             **compute_loss_dino(p, student, teacher, center)})

    for cid, p, (nI, N), K in LOSS_IBOT:
        g = gen(cid)
        masks = rand(g, nI, N) < 0.35
        masks[0, :3] = True
        if nI >= 3:
            masks[nI - 2] = False  # an image without masked patches (still counts in the 1/n_images)
        M = int(masks.sum())
        student = 2.0 * randn(g, M, K)
        teacher = 0.8 * randn(g, M, K)
        center = 0.3 * randn(g, 1, 1, K)
        add(dict(id=cid, kind="loss.ibot", file=fname(cid), **p, **TOL["loss.ibot"]),
            {"input.student_masked": student, "input.teacher_masked": teacher, "input.center": center,
             "input.masks": masks.to(torch.uint8), **compute_loss_ibot(p, student, teacher, center, masks)})

    for cid, (n, D) in LOSS_KOLEO:
        x = randn(gen(cid), n, D)
        add(dict(id=cid, kind="loss.koleo", file=fname(cid), **TOL["loss.koleo"]), {"input.x": x, **compute_koleo(x)})

    for cid, c, extra in SCHEDULES:
        add(dict(id=cid, kind="schedule", file=fname(cid), config=c, **TOL["schedule"]),
            compute_schedule(c, c["epochs"] * c["epoch_length"] + extra))

    for i, (iname, (w, h), mode, fmt) in enumerate(IMAGES):
        ipath = os.path.join(out, "images", iname)
        write_image(ipath, w, h, mode, fmt, seed_of("image/" + iname))
        cid = f"preprocess/eval/{iname}"
        add(dict(id=cid, kind="preprocess.eval", file=fname(cid), image=f"images/{iname}",
                 transform=EVAL_TRANSFORM, **TOL["preprocess.eval"]), compute_preprocess(ipath))

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {len(manifest['models'])} models and {len(cases)} cases to {out}")


# ---------------------------------------------------------------------------------------------------------
# Self-test against an existing suite, and a loader check
# ---------------------------------------------------------------------------------------------------------
def load_model_from_suite(root, entry):
    cfg = entry["config"]
    m = build_backbone(cfg)
    sd = read_safetensors(os.path.join(root, entry["safetensors"]))
    m.load_state_dict(sd, strict=True)
    return m


def _cmp(exp_all, got_all, atol, rtol):
    worst, bad, nan = 0.0, [], []
    for k, e in exp_all.items():
        gt = got_all[k].to(e.dtype).reshape(e.shape)
        if torch.isnan(e).any():
            nan.append(k)
        d = (gt.double() - e.double()).abs()
        lim = atol + rtol * e.double().abs()
        ok = torch.where(torch.isnan(e.double()), torch.isnan(gt.double()), d <= lim)
        if not bool(ok.all()):
            bad.append(k)
        if d.numel():
            worst = max(worst, float(torch.nan_to_num(d, nan=0.0).max()))
    return worst, bad, nan


def verify(root):
    man = json.load(open(os.path.join(root, "manifest.json")))
    models = {n: load_model_from_suite(root, e) for n, e in man["models"].items()}
    n_ok = n_bad = 0
    for c in man["cases"]:
        k = c["kind"]
        if k in ("train.ssl_step", "arch.shapes"):
            print(f"SKIP {c['id']} ({k})")
            continue
        t = read_safetensors(os.path.join(root, c["file"]))
        exp = {n: v for n, v in t.items() if n.startswith("expected.")}
        if k == "backbone.forward_features":
            got = compute_forward(models[c["model"]], t["input.x"], t.get("input.masks"))
        elif k == "backbone.intermediate_layers":
            got = compute_intermediate(models[c["model"]], t["input.x"], c["calls"])
        elif k == "head.classifier":
            got = compute_classifier(models[c["model"]], t["input.x"], t["weights.weight"], t["weights.bias"],
                                     c["layers"])
        elif k == "head.depth_linear":
            w = {n[len("weights."):]: v for n, v in t.items() if n.startswith("weights.")}
            got = compute_depth(models[c["model"]], t["input.x"], w, c["layers"], c["out_index"])
        elif k == "head.dino":
            got, _ = compute_dino_head(c["config"], t, t["input.x"], t["input.grad_y"])
        elif k == "loss.dino":
            got = compute_loss_dino(c, t["input.student"], t["input.teacher"], t["input.center"])
        elif k == "loss.ibot":
            got = compute_loss_ibot(c, t["input.student_masked"], t["input.teacher_masked"], t["input.center"],
                                    t["input.masks"])
        elif k == "loss.koleo":
            got = compute_koleo(t["input.x"])
        elif k == "schedule":
            got = compute_schedule(c["config"], next(iter(exp.values())).shape[0])
        elif k == "preprocess.eval":
            got = compute_preprocess(os.path.join(root, c["image"]))
        else:
            print(f"SKIP {c['id']} (unknown kind {k})")
            continue
        missing = sorted(set(exp) - set(got))
        extra = sorted(set(got) - set(exp))
        worst, bad, nan = _cmp(exp, got, c.get("atol", 0.0), c.get("rtol", 0.0))
        ok = not missing and not extra and not bad
        n_ok += ok
        n_bad += not ok
        msg = f"{'OK  ' if ok else 'FAIL'} {c['id']:<52} max|diff|={worst:.3g}"
        if missing or extra:
            msg += f" missing={missing} extra={extra}"
        if bad:
            msg += f" out-of-tolerance={bad}"
        if nan:
            msg += f" (expected has NaN in {nan})"
        print(msg, flush=True)
    print(f"{n_ok} ok, {n_bad} failing")
    return n_bad == 0


def check(root):
    man = json.load(open(os.path.join(root, "manifest.json")))
    problems = 0

    def hdr(p):
        with open(p, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            h = json.loads(f.read(n))
            size = os.path.getsize(p)
        end = max([v["data_offsets"][1] for k, v in h.items() if k != "__metadata__"] + [0])
        assert 8 + n + end == size, f"{p}: size mismatch"
        assert (8 + n) % 8 == 0, f"{p}: header not 8-aligned"
        return h

    for name, e in man["models"].items():
        sd = torch.load(os.path.join(root, e["pth"]), map_location="cpu")
        st = read_safetensors(os.path.join(root, e["safetensors"]))
        assert set(sd) == set(st) and all(torch.equal(sd[k], st[k]) for k in sd), name
        m = build_backbone(e["config"])
        m.load_state_dict(sd, strict=True)
        if "hf" in e:
            hf = read_safetensors(os.path.join(root, e["hf"], "model.safetensors"))
            cfgj = json.load(open(os.path.join(root, e["hf"], "config.json")))
            assert to_hf(sd, e["config"]).keys() == hf.keys()
            assert cfgj["hidden_size"] == e["config"]["embed_dim"]
        print(f"model {name}: pth/safetensors{'/hf' if 'hf' in e else ''} ok ({len(sd)} tensors)")
    ids = set()
    for c in man["cases"]:
        assert c["id"] not in ids, c["id"]
        ids.add(c["id"])
        h = hdr(os.path.join(root, c["file"]))
        if "image" in c:
            assert os.path.isfile(os.path.join(root, c["image"]))
        if "model" in c:
            assert c["model"] in man["models"]
        nonfinite = [k for k in h if k != "__metadata__" and h[k]["dtype"] in ("F32", "F64")
                     and not torch.isfinite(read_safetensors(os.path.join(root, c["file"]))[k]).all()]
        if nonfinite:
            problems += 1
            print(f"non-finite values in {c['id']}: {nonfinite}")
    print(f"{len(man['cases'])} case files parse; {problems} with non-finite values")
    return problems == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", help="output suite folder")
    ap.add_argument("--verify-shared", metavar="DIR", help="recompute an existing suite's cases")
    ap.add_argument("--check", metavar="DIR", help="parse / load every file of a written suite")
    a = ap.parse_args()
    if not (a.out or a.verify_shared or a.check):
        ap.error("give OUT_DIR, --verify-shared DIR or --check DIR")
    ok = True
    if a.verify_shared:
        ok &= verify(a.verify_shared)
    if a.out:
        build(a.out)
        ok &= check(a.out)
        ok &= verify(a.out)
    if a.check:
        ok &= check(a.check)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
