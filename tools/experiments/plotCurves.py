"""Learning curves of MNIST / Fashion-MNIST runs (tools/experiments/sslMnist.ts, distillMnist.ts) as one PNG.

  python3 tools/experiments/plotCurves.py OUT.png RAW_PIXEL_TOP1 [--title TITLE] LABEL=RUN_DIR[@K] [LABEL=RUN_DIR[@K] ...]

K (the number of prototypes) comes from the run's result.json, or after @ for a run stopped before writing it.

Left: k-NN top-1 (k = 20) of the teacher (student EMA for distillation) against iterations, with the
raw-pixel baseline. Right: the DINO cross-entropy divided by ln K (1 = uniform student output: collapse).
Needs python3-matplotlib (Debian package).
"""
import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

out, raw = sys.argv[1], float(sys.argv[2])
specs = sys.argv[3:]
title = "MNIST 5,000 train / 2,000 val"
if specs[:1] == ["--title"]:
    title, specs = specs[1], specs[2:]
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), dpi=80)
for spec in specs:
    label, run = spec.split("=", 1)
    run, _, given_k = run.partition("@")
    lines = [json.loads(l) for l in open(f"{run}/log.jsonl") if l.strip()]
    try:
        settings = json.load(open(f"{run}/result.json"))["settings"]
        K = settings.get("prototypes")
    except (OSError, KeyError):
        K = int(given_k) if given_k else None
    ev = [(l["iteration"] + 1, l["eval"]["knn_top1_k20"]) for l in lines if "eval" in l]
    if ev:
        a.plot([e[0] for e in ev], [e[1] for e in ev], marker="o", label=label)
    if K:
        steps = [l for l in lines if "total" in l]
        b.plot([l["iteration"] for l in steps], [(l["dino_local_crops"] + l["dino_global_crops"]) / math.log(K) for l in steps], label=label, linewidth=1)
a.axhline(raw, color="grey", linestyle="--", label=f"raw pixels ({raw:.1f} %)")
a.set_ylim(top=max(a.get_ylim()[1], raw + 1))
a.set_xlabel("iteration")
a.set_ylabel("k-NN top-1, k = 20 (%)")
a.set_title(title)
a.legend(fontsize=7)
b.axhline(1.0, color="grey", linestyle="--")
b.set_xlabel("iteration")
b.set_ylabel("DINO cross-entropy / ln K")
b.set_title("1.0 = uniform student (collapse)")
b.legend(fontsize=7)
fig.tight_layout()
fig.savefig(out)
