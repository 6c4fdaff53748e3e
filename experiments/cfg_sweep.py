"""Choose the sampling settings — CFG scale, number of steps, what guidance contrasts with, the sampler — on
*validation* scenes, never on the held-out test scenes.

Re-tests trained runs (``experiments/ablation.py`` run folders, each with ``version_*/config.yaml`` and
``checkpoints/last.ckpt``) at every combination of the given CFG scales, sampler steps and guidance modes on
validation scenes of the synthetic benchmark (the ``val`` split: scene seeds neither the training nor the test
split uses) and prints one table: Spatial AV-Align, its off-centre companion, pan MAE, pan correlation (per
clip and per source), E-L1 and the activity ratio per setting, averaged over the runs, the same metrics on the
validation audio itself (ground truth) and the setting with the best mean Spatial AV-Align.

    python experiments/ablation.py --cfg-sweep runs/ablations_2800/full-seed0 runs/ablations_2800/full-seed1 \
        --scales 2 4 6 8
    python experiments/ablation.py --cfg-sweep RUNS --scales 2 --sampler-steps 8 12 24 50 150   # steps curve
    python experiments/ablation.py --cfg-sweep RUNS --scales 2 4 --guidance all spatial

The validation scenes live in their own folder (``--data-root``), so the training runs' own small ``val`` split
is not rewritten. The run folders are only read; re-test outputs go to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from runlib import (
    activity_ratio,
    flatten,
    last_checkpoint,
)

log = logging.getLogger("cfg_sweep")
KEYS = (
    "spatial_av_align",
    "spatial_av_align_offcentre",
    "pan_mae",
    "pan_corr",
    "pan_corr_per_source",
    "e_l1",
    "activity",
)
Setting = tuple[float, int | None, str | None, str | None]  # CFG scale, sampler steps, guidance, sampler type
# (None: the run's own)


def run_files(run: Path) -> tuple[Path, Path]:
    """A run folder's final checkpoint and the resolved ``config.yaml`` of the version that trained it."""
    ckpt = last_checkpoint(run)
    config = ckpt.parents[1] / "config.yaml"
    if not config.is_file():
        raise FileNotFoundError(f"{run}: {ckpt} has no config.yaml beside its version folder")
    return config, ckpt


def validation_shards(args: argparse.Namespace, run: Path) -> str:
    """Create (once) the validation scenes at the run's sample rate and return their shard folder."""
    import yaml

    from stereosync.data.synthetic import ensure_synthetic_dataset

    sample_rate = int(yaml.safe_load(run_files(run)[0].read_text())["data"]["sample_rate"])

    summary = ensure_synthetic_dataset(
        args.data_root, num_scenes=args.val_scenes, seed=0, split="val", sample_rate=sample_rate, write_mp4s=False
    )
    return str(Path(summary["shards"][0]).parent)


def build_cli(args: argparse.Namespace, run: Path, out: Path, setting: Setting, shards: str):
    """The run's own configuration, re-pointed at the validation shards and an output folder of its own."""
    import yaml

    from stereosync.cli import cli_main

    config, _ = run_files(run)
    scale, steps, guidance, sampler = setting
    # the run's logger names the run folder itself: point it (and so the test writer's clips) at ``out``
    logger = yaml.safe_load(config.read_text())["trainer"].get("logger")
    log_dir = [f"--trainer.logger.init_args.save_dir={out}"] if isinstance(logger, dict) else []
    return cli_main(
        [
            "--config",
            str(config),
            f"--trainer.default_root_dir={out}",
            *log_dir,
            "--trainer.enable_progress_bar=false",
            f"--model.sampler.cfg_scale={scale}",
            "--model.fad=false",
            f"--data.test_shards={shards}",
            f"--data.num_workers={args.num_workers}",
        ]
        + ([f"--model.sampler.steps={steps}"] if steps is not None else [])
        + ([f"--model.sampler.guidance={guidance}"] if guidance is not None else [])
        + ([f"--model.sampler.sampler_type={sampler}"] if sampler is not None else []),
        run=False,
    )


def ground_truth(args: argparse.Namespace, run: Path, shards: str) -> dict[str, float]:
    """The validation audio itself through the same metrics (the ceiling the generated rows are compared to)."""
    from stereosync.metrics import build_metrics

    cli = build_cli(args, run, Path(args.out) / "ground-truth", (1.0, None, None, None), shards)
    dm = cli.datamodule
    dm.setup("test")
    metrics = build_metrics(cli.model.backbone.sample_rate, fad_embedder=None, prefix="test/")
    for batch in dm.test_dataloader():
        target = batch["audio"].float()
        metrics.update(preds=target, target=target, boxes=batch["boxes"], box_mask=batch["box_mask"])
    return flatten(metrics.compute()) | {"activity": 1.0}


def label(setting: Setting) -> str:
    scale, steps, guidance, sampler = setting
    return (
        f"cfg{scale:g}"
        + (f"-steps{steps}" if steps is not None else "")
        + (f"-{guidance}" if guidance else "")
        + (f"-{sampler}" if sampler else "")
    )


def retest(args: argparse.Namespace, run: Path, setting: Setting, shards: str) -> dict[str, float]:
    """Test one run's last checkpoint at one sampling setting on the validation shards."""
    _, ckpt = run_files(run)
    out = Path(args.out) / f"{run.parent.name}-{run.name}-{label(setting)}"
    cli = build_cli(args, run, out, setting, shards)
    values = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=str(ckpt), verbose=False)[0]
    return flatten(values) | {"activity": activity_ratio(out)}


def table(results: dict[Setting, list[dict[str, float]]], truth: dict[str, float]) -> str:
    """One line per setting: the mean over runs (each run's own value in brackets when there are several)."""
    head = "| CFG | steps | guidance | sampler | runs | " + " | ".join(KEYS) + " |"
    lines = [head, "|" + "---|" * (len(KEYS) + 5)]
    for (scale, steps, guidance, sampler), rows in results.items():
        cells = []
        for k in KEYS:
            values = [r.get(k, math.nan) for r in rows]
            each = f" ({' / '.join(f'{v:.3f}' for v in values)})" if len(values) > 1 else ""
            cells.append(f"{np.mean(values):.3f}{each}")
        steps_cell, guidance_cell = steps if steps is not None else "run's", guidance or "run's"
        cells = [f"{scale:g}", str(steps_cell), guidance_cell, sampler or "run's", str(len(rows)), *cells]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| ground truth | – | – | – | – | " + " | ".join(f"{truth.get(k, math.nan):.3f}" for k in KEYS) + " |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="experiments/ablation.py --cfg-sweep", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="trained run folders (<--out>/<row>-seed<n>)")
    p.add_argument("--scales", type=float, nargs="+", default=[2.0, 4.0, 6.0, 8.0])
    p.add_argument("--sampler-steps", type=int, nargs="+", default=[None], help="sampler steps (default: the run's)")
    p.add_argument(
        "--guidance", nargs="+", default=[None], choices=["all", "spatial"], help="guidance modes (default: the run's)"
    )
    p.add_argument(
        "--samplers", nargs="+", default=[None], help="sampler types, e.g. dpmpp-3m-sde dpmpp-2m (default: the run's)"
    )
    p.add_argument("--data-root", default="data/bench-16k-cfgval", help="validation scenes (created on first use)")
    p.add_argument("--val-scenes", type=int, default=24, help="validation scenes (3 clips of 2 s each)")
    p.add_argument("--num-workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/cfg_sweep", help="re-test outputs")
    return p


def main(argv: Sequence[str] | None = None) -> dict[Setting, list[dict[str, float]]]:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    shards = validation_shards(args, args.runs[0])
    truth = ground_truth(args, args.runs[0], shards)
    results: dict[Setting, list[dict[str, float]]] = {}
    settings = [
        (c, n, g, s) for c in args.scales for n in args.sampler_steps for g in args.guidance for s in args.samplers
    ]
    for setting in settings:
        for run in args.runs:
            results.setdefault(setting, []).append(retest(args, run, setting, shards))
            shown = {k: round(results[setting][-1].get(k, math.nan), 4) for k in KEYS}
            log.info("%s %s: %s", label(setting), run, shown)
    best = max(results, key=lambda s: np.mean([r["spatial_av_align"] for r in results[s]]))
    text = table(results, truth) + (
        f"\n\nbest setting on {args.val_scenes} validation scenes: {label(best)}; {len(args.runs)} runs "
        f"({', '.join(str(r) for r in args.runs)}); wall time {(time.perf_counter() - t0) / 60:.1f} min\n"
    )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "cfg_sweep.md").write_text(text)
    (Path(args.out) / "cfg_sweep.json").write_text(
        json.dumps({"ground truth": truth} | {label(k): v for k, v in results.items()}, indent=1)
    )
    print(text)
    return results
