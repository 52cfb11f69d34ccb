"""Benchmark worker: one DINOv2 training step in plain PyTorch, written for this benchmark (not the official
code): student and teacher ViT (the blocks of torch_dinov2.py), a shared DINO/iBOT head, Sinkhorn-Knopp
teacher targets, the DINO local/global terms, the iBOT masked-patch term, KoLeo, backward, per-module
gradient clipping, AdamW with layer-wise lr decay groups, and the EMA teacher update. Drop path 0, float32.
Random weights; the same deterministic masks as bench/trainStep.ts. Prints one JSON line.

Usage: OPENBLAS_NUM_THREADS=2 python3 torch_train_step.py '{"size": 224, "localSize": 98, "nLocal": 8, "batch": 4,
        "prototypes": 65536, "runs": 2, "warmup": 1, "threads": 1}'
"""
import json
import os
import resource
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch_dinov2 import Block  # noqa: E402

DIM, DEPTH, HEADS, PATCH = 384, 12, 6, 14  # ViT-S/14


class Backbone(nn.Module):
    def __init__(self, img_size):
        super().__init__()
        self.grid = img_size // PATCH
        self.patch_embed = nn.Conv2d(3, DIM, PATCH, PATCH)
        self.cls_token = nn.Parameter(torch.randn(1, 1, DIM) * 1e-6)
        self.pos_embed = nn.Parameter(torch.randn(1, self.grid**2 + 1, DIM) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, DIM))
        self.blocks = nn.ModuleList([Block(DIM, HEADS, "mlp") for _ in range(DEPTH)])
        self.norm = nn.LayerNorm(DIM, eps=1e-6)

    def forward(self, x, masks=None):
        B, _, H, _ = x.shape
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        if masks is not None:
            t = torch.where(masks.unsqueeze(-1), self.mask_token.unsqueeze(0), t)
        t = torch.cat([self.cls_token.expand(B, -1, -1), t], 1)
        h = H // PATCH
        if h == self.grid:
            pos = self.pos_embed
        else:
            g = self.pos_embed[:, 1:].reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
            g = F.interpolate(g, scale_factor=((h + 0.1) / self.grid,) * 2, mode="bicubic")
            pos = torch.cat([self.pos_embed[:, :1], g.permute(0, 2, 3, 1).reshape(1, h * h, -1)], 1)
        t = t + pos
        for blk in self.blocks:
            t = blk(t)
        t = self.norm(t)
        return t[:, 0], t[:, 1:]


class Head(nn.Module):
    def __init__(self, k, hidden=2048, bottleneck=256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(DIM, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, bottleneck))
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck, k, bias=False))
        self.last_layer.weight_g.data.fill_(1)

    def forward(self, x):
        return self.last_layer(F.normalize(self.mlp(x), dim=-1, p=2, eps=1e-12))


def sinkhorn(t, temp, n, iters=3):
    q = torch.exp(t / temp).t()
    q /= q.sum()
    for _ in range(iters):
        q /= q.sum(dim=1, keepdim=True)
        q /= q.shape[0]
        q /= q.sum(dim=0, keepdim=True)
        q /= n
    return (q * n).t()


def koleo(x, eps=1e-8):
    x = F.normalize(x, eps=eps, p=2, dim=-1)
    dots = x @ x.t()
    dots.view(-1)[:: x.shape[0] + 1].fill_(-1)
    nn_idx = dots.max(dim=1)[1]
    return -torch.log(F.pairwise_distance(x, x[nn_idx], p=2, eps=1e-8) + eps).mean()


def masks_for(n_crops, n_patches):
    """Half the global crops masked, ratios from the middle of [0.1, 0.5]'s bins (bench/trainStep.ts does the same)."""
    m = torch.zeros(n_crops, n_patches, dtype=torch.bool)
    k = n_crops // 2
    for i in range(k):
        m[i, : int(n_patches * (0.1 + 0.4 * (i + 0.5) / k))] = True
    return m


def decay_groups(module, depth, decay=0.9, patch_mult=0.2):
    groups = []
    for name, p in module.named_parameters():
        layer = depth + 1
        if depth and any(s in name for s in ("pos_embed", "patch_embed", "mask_token", "cls_token")):
            layer = 0
        elif depth and name.startswith("blocks."):
            layer = int(name.split(".")[1]) + 1
        lr_mult = decay ** (depth + 1 - layer) * (patch_mult if "patch_embed" in name else 1)
        wd_mult = 0.0 if name.endswith(".bias") or "norm" in name or "ls" in name else 1.0
        groups.append({"params": [p], "lr": 1e-3 * lr_mult, "weight_decay": 0.04 * wd_mult})
    return groups


def main():
    req = json.loads(sys.argv[-1])
    torch.set_num_threads(req.get("threads") or 1)
    torch.manual_seed(0)
    B, nL, S, s, K = req["batch"], req["nLocal"], req["size"], req["localSize"], req["prototypes"]
    student = nn.ModuleDict({"backbone": Backbone(S), "dino_head": Head(K)})
    teacher = nn.ModuleDict({"backbone": Backbone(S), "dino_head": Head(K)})
    teacher.load_state_dict(student.state_dict())
    for p in teacher.parameters():
        p.requires_grad = False
    groups = decay_groups(student["backbone"], DEPTH) + decay_groups(student["dino_head"], 0)
    opt = torch.optim.AdamW(groups, betas=(0.9, 0.999))
    g_crops = torch.randn(2 * B, 3, S, S)
    l_crops = torch.randn(nL * B, 3, s, s)
    N = (S // PATCH) ** 2
    masks = masks_for(2 * B, N)
    idx = masks.flatten().nonzero().flatten()
    M = idx.shape[0]
    weight = (1 / masks.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(masks)[masks]
    temp, s_temp = 0.07, 0.1

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            t_cls, t_patch = teacher["backbone"](g_crops)
            t_cls = torch.cat(t_cls.chunk(2)[::-1])
            out = teacher["dino_head"](torch.cat([t_cls, t_patch.flatten(0, 1)[idx]]))
            t_dino = sinkhorn(out[: 2 * B], temp, 2 * B)
            t_ibot = sinkhorn(out[2 * B :], temp, M)
        s_cls, s_patch = student["backbone"](g_crops, masks)
        l_cls, _ = student["backbone"](l_crops)
        out = student["dino_head"](torch.cat([l_cls, s_cls, s_patch.flatten(0, 1)[idx]]))
        s_local, s_global, s_masked = out[: nL * B], out[nL * B : nL * B + 2 * B], out[nL * B + 2 * B :]
        terms = 2 + max(2 * nL, 1)
        loss = 0
        for sl in s_local.chunk(nL):
            lsm = F.log_softmax(sl / s_temp, -1)
            for tt in t_dino.chunk(2):
                loss = loss - (tt * lsm).sum(-1).mean() / terms
        loss = loss - (t_dino * F.log_softmax(s_global / s_temp, -1)).sum(-1).mean() * 2 / terms
        loss = loss + 0.1 * sum(koleo(c) for c in s_cls.chunk(2))
        loss = loss - ((t_ibot * F.log_softmax(s_masked / s_temp, -1)).sum(-1) * weight).sum() / (2 * B)
        loss.backward()
        for m in student.values():
            nn.utils.clip_grad_norm_(m.parameters(), 3.0)
        opt.step()
        with torch.no_grad():
            tp, sp = list(teacher.parameters()), list(student.parameters())
            torch._foreach_mul_(tp, 0.992)
            torch._foreach_add_(tp, sp, alpha=1 - 0.992)
        return float(loss)

    for _ in range(req["warmup"]):
        step()
    times, cpu, losses = [], [], []
    for _ in range(req["runs"]):
        t, c = time.perf_counter(), time.process_time()
        losses.append(step())
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"ok": True, "seconds": times, "cpuSeconds": cpu, "losses": losses, "maskedPatches": M, "peakRssBytes": rss}))


if __name__ == "__main__":
    main()
