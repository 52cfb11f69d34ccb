"""What BLAS PyTorch multiplies with in this process, and how fast: prints one JSON line.

Reads the shared libraries mapped into this process (/proc/self/maps) after a matrix product has run,
asks OpenBLAS (when it is the one loaded) for its kernel name and configuration, and times a bare
float32 product of the network's shape (2056 x 384 x 1536, ViT-S/14 fc1 at batch 8). Run by bench/anchors.ts
with the same environment as the PyTorch bench workers.
"""
import ctypes
import json
import os
import sys
import time

import torch


def blas_info():
    libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if ".so" in l and ("blas" in l.lower() or "mkl" in l.lower())})
    info = {"libraries": libs, "kernel": None, "config": None, "threads": None}
    for p in libs:
        try:
            lib = ctypes.CDLL(p)
            core = lib.openblas_get_corename
        except (OSError, AttributeError):
            continue
        core.restype = ctypes.c_char_p
        cfg = lib.openblas_get_config
        cfg.restype = ctypes.c_char_p
        info.update(kernel=core().decode(), config=cfg().decode(), threads=lib.openblas_get_num_threads(), library=p)
        break
    return info


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    m, k, n = 2056, 384, 1536
    a = torch.randn(m, k)
    b = torch.randn(k, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(9):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    times.sort()
    gflops = 2 * m * k * n / times[len(times) // 2] / 1e9
    env = {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP", "MKL"))}
    print(json.dumps({"torch": torch.__version__, "blas": blas_info(), "matmulGflops": round(gflops, 1), "env": env,
                      "capability": torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else None}))


if __name__ == "__main__":
    main()
