"""Benchmark worker: the DINOv2 ViT written in plain PyTorch (the project's own short version of the
official architecture: pre-norm blocks, LayerScale, fused qkv, exact GELU / SwiGLU, bicubic pos-embed
interpolation), random weights. Run by bench/run.ts with /usr/bin/python3; prints one JSON line.

Usage: python3 torch_dinov2.py '{"model": "dinov2_vits14", "size": 224, "batch": 8, "runs": 5, "warmup": 2, "precision": "fp32"}'
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ARCH = {"vits14": (384, 12, 6, "mlp"), "vitb14": (768, 12, 12, "mlp"), "vitl14": (1024, 24, 16, "mlp"), "vitg14": (1536, 40, 24, "swiglu")}


class Block(nn.Module):
    def __init__(self, dim, heads, ffn):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ls1 = nn.Parameter(torch.ones(dim))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.swiglu = ffn == "swiglu"
        if self.swiglu:
            hidden = (int(dim * 4 * 2 / 3) + 7) // 8 * 8
            self.w12 = nn.Linear(dim, 2 * hidden)
            self.w3 = nn.Linear(hidden, dim)
        else:
            self.fc1 = nn.Linear(dim, 4 * dim)
            self.fc2 = nn.Linear(4 * dim, dim)
        self.ls2 = nn.Parameter(torch.ones(dim))

    def attn(self, x):
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (D // self.heads) ** -0.5, qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((a @ v).transpose(1, 2).reshape(B, T, D))

    def ffn(self, x):
        if self.swiglu:
            x1, x2 = self.w12(x).chunk(2, dim=-1)
            return self.w3(F.silu(x1) * x2)
        return self.fc2(F.gelu(self.fc1(x)))

    def forward(self, x):
        x = x + self.ls1 * self.attn(self.norm1(x))
        return x + self.ls2 * self.ffn(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, dim, depth, heads, ffn):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, 14, 14)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 1e-6)
        self.pos_embed = nn.Parameter(torch.randn(1, 1370, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, ffn) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x):
        B, _, H, W = x.shape
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls_token.expand(B, -1, -1), t], 1)
        h0, w0 = H // 14, W // 14
        grid = self.pos_embed[:, 1:].reshape(1, 37, 37, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=((h0 + 0.1) / 37, (w0 + 0.1) / 37), mode="bicubic")
        pos = torch.cat([self.pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h0 * w0, -1)], 1)
        t = t + pos
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)


def main():
    req = json.loads(sys.argv[-1])
    torch.set_num_threads(req.get("threads") or 1)
    if req["precision"] != "fp32":
        print(json.dumps({"ok": False, "note": "PyTorch peer runs fp32 only"}))
        return
    dim, depth, heads, ffn = ARCH[req["model"].replace("dinov2_", "").replace("_reg", "")]
    t0 = time.perf_counter()
    model = ViT(dim, depth, heads, ffn).eval()
    x = torch.sin(torch.arange(req["batch"] * 3 * req["size"] ** 2, dtype=torch.float32) * 0.001).reshape(req["batch"], 3, req["size"], req["size"]) * 2
    times = []
    with torch.inference_mode():
        model(x)
        load = time.perf_counter() - t0
        for _ in range(req["warmup"]):
            model(x)
        for _ in range(req["runs"]):
            t = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t) * 1000)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"ok": True, "msPerBatch": times, "peakRssBytes": rss, "loadSeconds": load}))


if __name__ == "__main__":
    main()
