"""Benchmark: DataModule throughput vs what the tiny training step consumes (issue 8, item 2).

    python bench/data_loading.py [--scenes 12] [--batches 20]

Writes synthetic shards (``configs/tiny.yaml`` data settings: 16 kHz, 6-s scenes cut into 2-s samples, no mp4s)
into a temporary folder, then measures samples/s of ``ShardDataModule.train_dataloader()`` with 0 and 2 workers
(decode, validation, shuffle buffer, crop, peak normalisation, polarity flip, collation; the first batch, which
pays for worker start-up, is not timed; the median of ``--repeats`` passes), and samples/s of the tiny training
step on batches from that loader (the complete step of ``bench/train_step.py``, audio encoded by the weight-free
pretransform as in the tiny recipe; one thread by default: on a shared 2-core machine a 2-thread step is erratic).
Goal: loading ≥ 10 × consumption.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml
from benchlib import REPO, OursStep, build_module

GOAL = 10.0


def data_settings(config: Path) -> dict:
    return yaml.safe_load(config.read_text())["data"]


def loader_rate(shards: Path, settings: dict, workers: int, batches: int) -> float:
    """Samples/s over ``batches`` batches after the first."""
    from datamodules.shards import ShardDataModule

    dm = ShardDataModule(
        train_shards=str(shards),
        sample_rate=settings["sample_rate"],
        batch_size=settings["batch_size"],
        num_workers=workers,
        steps_per_epoch=batches + 1,
        shuffle_buffer=settings.get("shuffle_buffer", 256),
    )
    it = iter(dm.train_dataloader())
    next(it)
    t0, n = time.perf_counter(), 0
    for batch in it:
        n += batch["clap"].shape[0]
    return n / (time.perf_counter() - t0)


def step_rate(config: Path, shards: Path, settings: dict, steps: int) -> float:
    """Samples/s of the complete tiny training step (median step time) on real loader batches."""
    from datamodules.shards import ShardDataModule

    dm = ShardDataModule(
        train_shards=str(shards),
        sample_rate=settings["sample_rate"],
        batch_size=settings["batch_size"],
        num_workers=0,
        steps_per_epoch=steps + 1,
        shuffle_buffer=settings.get("shuffle_buffer", 256),
    )
    batches = list(dm.train_dataloader())
    torch.manual_seed(0)
    module = build_module(config)
    step = OursStep(module)
    step(batches[0])  # warm-up: optimiser state
    times = [step(b)["total"] for b in batches[1:]]
    return batches[0]["clap"].shape[0] / statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "tiny.yaml"))
    parser.add_argument("--scenes", type=int, default=12, help="synthetic scenes to write (3 samples each)")
    parser.add_argument("--batches", type=int, default=20, help="timed loader batches per worker setting")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument(
        "--repeats", type=int, default=3, help="loader passes per worker setting (median: a pass lasts ~1 s)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the training step")
    parser.add_argument("--json", help="also write the figures to this json file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from stereosync.data.synthetic import write_synthetic_dataset

    config = Path(args.config)
    settings = data_settings(config)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        summary = write_synthetic_dataset(
            tmp,
            num_scenes=args.scenes,
            seed=0,
            split="train",
            sample_rate=settings["sample_rate"],
            write_mp4s=False,
            samples_per_shard=8,
            progress=False,
        )
        shards = Path(tmp) / "train" / "shards"
        passes = {w: [] for w in (0, 2)}
        for _ in range(args.repeats):  # alternating, so a burst of load on the shared machine hits both
            for w in passes:
                passes[w].append(loader_rate(shards, settings, w, args.batches))
        rates = {w: statistics.median(r) for w, r in passes.items()}
        consume = step_rate(config, shards, settings, args.steps)
    print(
        f"Data loading vs the tiny training step ({config.name}: {settings['sample_rate']} Hz, batch "
        f"{settings['batch_size']}; {summary['samples']} synthetic samples in {len(summary['shards'])} shards; "
        f"step with {torch.get_num_threads()} thread(s))"
    )
    print(f"{'':<26}{'samples/s':>10}{'x step':>9}{'goal':>7}{'ok':>5}")
    print(f"{'training step consumes':<26}{consume:>10.1f}")
    ok = True
    for w, rate in rates.items():
        ratio = rate / consume
        ok &= ratio >= GOAL
        mark = "yes" if ratio >= GOAL else "NO"
        print(f"{f'loader, {w} workers':<26}{rate:>10.1f}{ratio:>8.1f}x{f'>={GOAL:g}x':>7}{mark:>5}")
    print(f"total {time.perf_counter() - t0:.0f} s; goal met: {'yes' if ok else 'NO'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"step_samples_per_s": consume, "loader_samples_per_s": rates}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
