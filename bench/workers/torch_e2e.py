"""End-to-end worker: PyTorch + torchvision over a folder of JPEGs, the way its users run it: a Dataset that
opens each file with PIL and applies the official eval transform (Resize(256, bicubic), CenterCrop(224),
ToTensor, Normalize), a DataLoader with 2 worker processes and batch 8, and the ViT-S/14 of
torch_dinov2.py (random weights). Model time is summed around the forward; idle = wall - model (waiting for
the loader). Decode and transform CPU time are measured afterwards in a serial pass. Prints one JSON line.

Usage: python3 torch_e2e.py '{"dir": "...", "batch": 8, "workers": 2}'
"""
import json
import os
import resource
import sys
import time

import torch
from PIL import Image
from torchvision import transforms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_dinov2 import ViT  # noqa: E402

TRANSFORM = transforms.Compose([
    transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
    transforms.CenterCrop(224),
    transforms.ToTensor(),
    transforms.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
])


class Folder(torch.utils.data.Dataset):
    def __init__(self, files):
        self.files = files

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with open(self.files[i], "rb") as f:
            img = Image.open(f).convert("RGB")
        return TRANSFORM(img)


def main():
    req = json.loads(sys.argv[-1])
    torch.set_num_threads(1)
    files = sorted(os.path.join(req["dir"], f) for f in os.listdir(req["dir"]) if f.lower().endswith((".jpg", ".jpeg")))
    model = ViT(384, 12, 6, "mlp").eval()
    loader = torch.utils.data.DataLoader(Folder(files), batch_size=req["batch"], num_workers=req.get("workers", 2))
    model_ms = 0.0
    n = 0
    with torch.inference_mode():
        model(torch.zeros(req["batch"], 3, 224, 224))
        t0 = time.perf_counter()
        for x in loader:
            t = time.perf_counter()
            model(x)
            model_ms += (time.perf_counter() - t) * 1000
            n += x.shape[0]
        wall_ms = (time.perf_counter() - t0) * 1000
    decode_ms = transform_ms = 0.0
    for p in files:
        a = time.perf_counter()
        with open(p, "rb") as f:
            img = Image.open(f).convert("RGB")
        b = time.perf_counter()
        TRANSFORM(img)
        decode_ms += (b - a) * 1000
        transform_ms += (time.perf_counter() - b) * 1000
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"ok": True, "images": n, "wallMs": wall_ms, "modelMs": model_ms, "idleMs": wall_ms - model_ms,
                      "decodeMs": decode_ms, "transformMs": transform_ms, "peakRssBytes": rss}))


if __name__ == "__main__":
    main()
