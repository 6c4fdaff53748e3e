"""Benchmark: trainable-only vs full-model checkpoint size, real-size architecture (issue 8, item 4).

    python bench/checkpoint_size.py [--config configs/sao.yaml]

The real-size model is built on the ``meta`` device (no weights allocated, nothing written): a checkpoint's size is
its tensors' bytes plus a small per-tensor serialisation overhead, so the payload is computed exactly from the
state dict the module's own ``on_save_checkpoint`` leaves (backbone dropped, bf16 cast with ``checkpoint_dtype``).
The overhead is measured by really saving the tiny configuration's checkpoints and comparing file size with
payload; it is added per tensor to the real-size estimate.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from benchlib import REPO, build_module

GOAL = 1 / 5
GIB, MIB = 2**30, 2**20


def checkpoint_state(module, filtered: bool = True) -> dict[str, torch.Tensor]:
    """The state dict a Lightning checkpoint of ``module`` holds (``filtered``: after ``on_save_checkpoint``)."""
    ckpt = {"state_dict": module.state_dict()}
    if filtered:
        module.on_save_checkpoint(ckpt)
    return ckpt["state_dict"]


def payload(state: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in state.values())


def adamw_state_bytes(module) -> int:
    """Two fp32 moments per trainable element (+ one step scalar per parameter), as AdamW saves them."""
    params = module.model.trainable_parameters()
    return sum(2 * p.numel() * 4 + 4 for p in params)


def serialisation_overhead(config: Path) -> tuple[float, list[tuple[str, int, int]]]:
    """Bytes per tensor that ``torch.save`` adds, measured on real checkpoints of ``config`` (in memory)."""
    rows, per_tensor = [], []
    for dtype in ("float32", "bfloat16"):
        module = build_module(config, checkpoint_dtype=dtype)
        states = [("trainable", checkpoint_state(module))]
        if dtype == "float32":
            states.append(("full", checkpoint_state(module, filtered=False)))
        for name, state in states:
            buf = io.BytesIO()
            torch.save({"state_dict": state}, buf)
            size, pay = buf.getbuffer().nbytes, payload(state)
            rows.append((f"{name}, {dtype}", pay, size))
            per_tensor.append((size - pay) / len(state))
    return max(per_tensor), rows


def sizes(config: Path, overhead: float) -> dict[str, Any]:
    """Checkpoint sizes of the config's architecture, built on the meta device."""
    out: dict[str, Any] = {}
    for dtype in ("float32", "bfloat16"):
        with torch.device("meta"):
            module = build_module(config, checkpoint_dtype=dtype)
        trainable = checkpoint_state(module)
        out[f"trainable_{dtype}"] = payload(trainable) + overhead * len(trainable)
        if dtype == "float32":
            full = checkpoint_state(module, filtered=False)
            out["full"] = payload(full) + overhead * len(full)
            dit = module.backbone.dit.state_dict()
            out["dit_only"] = payload(dit) + overhead * len(dit)
            out["adamw_state"] = adamw_state_bytes(module)
            out["trainable_params"] = sum(p.numel() for p in module.model.trainable_parameters())
            out["full_params"] = sum(p.numel() for p in module.parameters())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "sao.yaml"))
    parser.add_argument("--overhead-config", default=str(REPO / "configs" / "tiny.yaml"))
    parser.add_argument("--json", help="also write the figures to this json file")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    overhead, rows = serialisation_overhead(Path(args.overhead_config))
    print(f"torch.save overhead, measured on {Path(args.overhead_config).name} (in memory):")
    for name, pay, size in rows:
        print(f"  {name:<20} payload {pay / MIB:8.2f} MiB  file {size / MIB:8.2f} MiB  (+{size - pay:,} B)")
    s = sizes(Path(args.config), overhead)
    full, fp32, bf16 = s["full"], s["trainable_float32"], s["trainable_bfloat16"]
    print(
        f"\nCheckpoint size, {Path(args.config).name} architecture ({s['full_params'] / 1e6:,.1f} M parameters, "
        f"{s['trainable_params'] / 1e6:,.1f} M trainable); computed on the meta device, "
        f"+{overhead:.0f} B per tensor"
    )
    print(f"{'checkpoint':<48}{'GiB':>8}{'vs full':>10}{'goal':>8}{'ok':>5}")
    table = [
        ("full model (every weight, fp32)", full, None),
        ("  of which the DiT alone (fp32)", s["dit_only"], None),
        ("trainable only, fp32 (default)", fp32, GOAL),
        ("trainable only, bf16 (checkpoint_dtype: bfloat16)", bf16, GOAL),
        ("trainable fp32 + AdamW state (a resumable ckpt)", fp32 + s["adamw_state"], None),
    ]
    ok = True
    for name, size, goal in table:
        ratio = size / full
        mark = "" if goal is None else ("yes" if ratio <= goal else "NO")
        ok &= goal is None or ratio <= goal
        goal_s = "" if goal is None else f"<={goal:.2f}"
        print(f"{name:<48}{size / GIB:>8.3f}{ratio:>10.3f}{goal_s:>8}{mark:>5}")
    print(f"total {time.perf_counter() - t0:.0f} s; goal met: {'yes' if ok else 'NO'}")
    if args.json:
        Path(args.json).write_text(json.dumps({**s, "ratio_fp32": fp32 / full, "ratio_bf16": bf16 / full}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
