"""Benchmark: seconds per generated 2-s clip, tiny config on a CPU (issue 8, item 5).

    python bench/sampling.py [--steps 24 150] [--threads 1]

Times ``StereoSync.generate`` on one clip — conditioning (the envelope encoded from reference audio), the
configured sampler (``dpmpp-3m-sde`` with classifier-free guidance, so two DiT passes per step in one batch) and
the pretransform decode — at the step count of ``configs/tiny.yaml`` and at the recipe's 150 steps. Reports the
median over repeats and the real-time factor (generation time / clip length; < 1 is faster than real time). The
real-size figure needs a GPU: ``bench/gpu.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from benchlib import CHUNK_SECONDS, REPO, build_module, model_args, synthetic_batch


def time_generation(module, steps: int, repeats: int, seconds: float) -> list[float]:
    module.sampler.steps = steps
    batch = synthetic_batch(module, 1, seconds)
    for k in ("latent", "envelope_latent"):  # generation starts from noise; the envelope from reference audio
        batch.pop(k)
    g = torch.Generator().manual_seed(0)
    batch["audio"] = torch.randn(1, 2, int(seconds * module.backbone.sample_rate), generator=g) * 0.1
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        audio = module.generate(batch, seeds=[0])
        times.append(time.perf_counter() - t0)
    assert audio.shape[-1] == batch["audio"].shape[-1]
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "tiny.yaml"))
    parser.add_argument("--steps", type=int, nargs="+", help="default: the config's steps and 150")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this json file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    configured = model_args(args.config)["sampler"]
    steps = args.steps or sorted({int(configured["steps"]), 150})
    torch.manual_seed(0)
    module = build_module(args.config).eval()
    time_generation(module, 2, 1, CHUNK_SECONDS)  # warm-up
    s = module.sampler
    print(
        f"Generation of one {CHUNK_SECONDS:g}-s clip, {Path(args.config).name} ({s.sampler_type}, CFG {s.cfg_scale}), "
        f"CPU, {torch.get_num_threads()} thread(s), median of {args.repeats}"
    )
    print(f"{'steps':>6}{'s / clip':>10}{'x real time':>13}{'ms / step':>11}")
    results = {}
    for n in steps:
        t = statistics.median(time_generation(module, n, args.repeats, CHUNK_SECONDS))
        results[n] = t
        print(f"{n:>6}{t:>10.2f}{t / CHUNK_SECONDS:>13.2f}{1000 * t / n:>11.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"seconds_per_clip": results, "clip_seconds": CHUNK_SECONDS}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
