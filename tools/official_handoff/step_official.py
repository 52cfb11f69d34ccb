#!/usr/bin/env python3
"""One iteration of the OFFICIAL trainer's step on a checkpoint exported by `dinov2 train --export-official`.

Usage:
    DINOV2_REPO=/path/to/dinov2 /usr/bin/python3 tools/official_handoff/step_official.py CASE.json CKPT BATCH.pth OUT_DIR

CASE.json: the configuration in tools/make_suite/make_ssl_step.py's case format, plus the schedule values of
this iteration (lr, weight_decay, last_layer_lr, teacher_temp, teacher_momentum). CKPT: the exported
`model_XXXXXXX.rank_0.pth`. BATCH.pth: global_crops, local_crops, masks (uint8), crop-major as collated.

What runs is the official code, imported from DINOV2_REPO (never copied): SSLMetaArch (ssl_meta_arch.py),
its `get_params_groups`, `apply_optim_scheduler` from train.py, torch.optim.AdamW as train.py builds it,
`forward_backward`, per-module clip_grad_norm_, `optimizer.step()`, `update_teacher`. The pieces that need
a GPU / xformers / FSDP are the stand-ins of make_ssl_step.py (same numbers for drop path 0). The model and
optimizer are loaded with `load_state_dict` (strict for the model), and the result is saved the way
FSDPCheckpointer.save lays it out ({"model", "optimizer", "iteration"} in model_<it:07d>.rank_0.pth plus
last_checkpoint.rank_0), unflattened (no FSDP here: a one-process state dict).
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "make_suite"))
import make_ssl_step as mss  # noqa: E402  (make_suite: DINOV2_REPO on sys.path, SDPA shim)

import torch  # noqa: E402


def batch_dict(b, n_tokens):
    """The collated dict forward_backward reads, derived from the crops and masks (as collate_data_and_cast)."""
    masks = b["masks"].to(torch.bool)
    mask_indices_list = masks.flatten().nonzero().flatten()
    masks_weight = (1 / masks.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(masks)[masks]
    return {
        "collated_global_crops": b["global_crops"],
        "collated_local_crops": b["local_crops"],
        "collated_masks": masks,
        "mask_indices_list": mask_indices_list,
        "masks_weight": masks_weight,
        "upperbound": int(masks.sum()) if masks.any() else 0,
        "n_masked_patches": torch.full((1,), fill_value=mask_indices_list.shape[0], dtype=torch.long),
    }


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    case_path, ckpt_path, batch_path, out_dir = sys.argv[1:]
    c = json.load(open(case_path))
    mss._install_stubs()
    SSLMetaArch = mss._load_ssl_meta_arch()
    apply_optim_scheduler = mss._apply_optim_scheduler()
    torch.set_num_threads(1)
    mss.ms.ensure_dist()
    cfg = mss.official_cfg(c)
    mss.register_arch(c["backbone"])
    model = SSLMetaArch(cfg)
    model.train()
    model.need_to_synchronize_fsdp_streams = False

    ckpt = torch.load(ckpt_path, map_location="cpu")
    missing, unexpected = model.load_state_dict(ckpt["model"], strict=True)
    optimizer = torch.optim.AdamW(model.get_params_groups(), betas=(cfg.optim.adamw_beta1, cfg.optim.adamw_beta2))
    optimizer.load_state_dict(ckpt["optimizer"])
    iteration = ckpt["iteration"] + 1

    b = torch.load(batch_path, map_location="cpu")
    n = c["backbone"]["img_size"] // c["backbone"]["patch_size"]
    data = batch_dict(b, n * n)
    apply_optim_scheduler(optimizer, c["lr"], c["weight_decay"], c["last_layer_lr"])
    optimizer.zero_grad(set_to_none=True)
    model.forward_backward(data, teacher_temp=c["teacher_temp"])
    for v in model.student.values():
        torch.nn.utils.clip_grad_norm_(v.parameters(), cfg.optim.clip_grad)
    optimizer.step()
    model.update_teacher(c["teacher_momentum"])
    if c["centering"] == "centering":
        # The official centers are updated lazily at the next softmax_center_teacher; apply now to save them.
        model.dino_loss.apply_center_update()
        model.ibot_patch_loss.apply_center_update()

    os.makedirs(out_dir, exist_ok=True)
    name = "model_{:07d}.rank_0.pth".format(iteration)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "iteration": iteration}, os.path.join(out_dir, name))
    with open(os.path.join(out_dir, "last_checkpoint.rank_0"), "w") as f:
        f.write(name)
    print(json.dumps({"file": name, "iteration": iteration, "missing": list(missing), "unexpected": list(unexpected)}))


if __name__ == "__main__":
    main()
