"""The ablation benchmark on synthetic spatial scenes (docs/experiments.md).

Trains every ablation of ``configs/ablations/`` over the tiny recipe (``configs/tiny.yaml``) on synthetic training
scenes, generates the held-out test scenes (scene seeds no training scene uses) and writes a markdown table:
Spatial AV-Align, its centre-robust companions (pan correlation / pan MAE against the box centre, Spatial AV-Align
on off-centre boxes), E-L1 and FAD. Three reference rows are computed with the same metrics on the test audio
itself: ground truth, always-centre (its mono downmix on both channels) and channels-swapped (L ↔ R).

    python experiments/ablation.py                          # whole table: 12 runs, ≈ 1.5 h on a 2-core CPU
    python experiments/ablation.py --rows full no_spatial   # the headline pair (2 seeds each), ≈ 30 min

FAD uses LAION-CLAP HTSAT-tiny (fusion) with ``--clap-checkpoint``; without one, *random* CLAP weights drawn from
a fixed seed (the same embedder for every row — the row names say ``random``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from runlib import REPO, activity_ratio, flatten, last_checkpoint

log = logging.getLogger("ablation")

BASE = REPO / "configs" / "tiny.yaml"
ABLATIONS = REPO / "configs" / "ablations"
ROWS = (
    "full",
    "no_spatial",
    "no_spatial_control",
    "no_depth",
    "no_boxes",
    "no_clap",
    "no_envelope",
    "boxes_per_number",
    "boxes_per_number_no_time",
    "boxes_per_frame_no_time",
    "pan_envelope",
)
MULTI_SEED_ROWS = ("full", "no_spatial")  # the headline pair: mean ± spread over seeds
COLUMNS = (
    ("spatial_av_align", "Spatial AV-Align ↑"),
    ("spatial_av_align_offcentre", "Sp. AV-Align off-centre ↑"),
    ("pan_corr", "pan corr ↑"),
    ("pan_corr_per_source", "pan corr per source ↑"),
    ("pan_mae", "pan MAE ↓"),
    ("x0_slope", "x0 slope ↑"),
    ("e_l1", "E-L1 ↓"),
    ("activity", "active frames / GT"),
    ("fad", "FAD ↓"),
)
FAD_SEED = 1234


def fad_embedder(checkpoint: str | None) -> torch.nn.Module:
    """The FAD embedder shared by every row (random CLAP weights come from ``FAD_SEED``)."""
    from stereosync.clap import ClapAudioEncoder

    with torch.random.fork_rng():
        torch.manual_seed(FAD_SEED)
        clap = ClapAudioEncoder(checkpoint)
    if checkpoint is None:
        clap.name += f"-random{FAD_SEED}"
    return clap


def cli_args(args: argparse.Namespace, row: str | None, seed: int, root: Path) -> list[str]:
    """LightningCLI arguments of one run (``row`` None: the base recipe, used for the reference rows)."""
    configs = ["--config", str(BASE)] + (["--config", str(ABLATIONS / f"{row}.yaml")] if row else [])
    return (
        configs
        + [
            f"--seed_everything={seed}",
            f"--trainer.max_steps={args.steps}",
            f"--trainer.default_root_dir={root}",
            f"--trainer.check_val_every_n_epoch={args.val_every}",
            "--trainer.enable_progress_bar=false",
            f"--model.fad={args.fad}",
            f"--data.synthetic.root={args.data_root}",
            f"--data.synthetic.train_scenes={args.train_scenes}",
            f"--data.synthetic.test_scenes={args.test_scenes}",
            f"--data.num_workers={args.num_workers}",
        ]
        + ([f"--model.sampler.cfg_scale={args.cfg_scale}"] if args.cfg_scale is not None else [])
        + list(args.extra)
    )


def recipe(args: argparse.Namespace, row: str, seed: int, root: Path) -> dict[str, Any]:
    """What a run's result depends on: its CLI arguments and the content of the configs, model configs and
    shipped weights it reads (a changed backbone or config makes an old result stale for ``--reuse``)."""
    import hashlib

    package = REPO / "src" / "stereosync"
    files = [BASE, ABLATIONS / f"{row}.yaml", *sorted((package / "model_configs").glob("*"))]
    files += sorted((package / "weights").glob("*"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + path.read_bytes())
    return {"args": cli_args(args, row, seed, root), "files_sha256": digest.hexdigest()}


def run_row(args: argparse.Namespace, row: str, seed: int, embedder: torch.nn.Module | None) -> dict[str, float]:
    """Train one ablation with one seed, then test it on the held-out scenes; returns its metrics.

    With ``--reuse``, a finished run of the same recipe (its ``result.json``) is read instead of trained again.
    """
    from stereosync.cli import cli_main

    root = Path(args.out) / f"{row}-seed{seed}"
    done = root / "result.json"
    if args.reuse and done.is_file():
        old = json.loads(done.read_text())
        if old.get("recipe") == recipe(args, row, seed, root):
            log.info("%s seed %d: reusing %s", row, seed, done)
            return {k: v for k, v in old.items() if k != "recipe"}
        log.info("%s seed %d: %s is from another recipe, training again", row, seed, done)
    t0 = time.perf_counter()
    cli = cli_main(cli_args(args, row, seed, root), run=False)  # built only: we drive fit, then test
    ckpt, timing = None, {}
    if args.retest:  # the trained weights again, only the test (e.g. at another --cfg-scale)
        ckpt = str(last_checkpoint(root))
        old = json.loads(done.read_text()) if done.is_file() else {}
        timing = {"fit_s": old.get("fit_s", math.nan), "retested": 1.0}
        log.info("%s seed %d: re-testing %s", row, seed, ckpt)
    else:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        timing = {"fit_s": time.perf_counter() - t0}
    if embedder is not None:
        object.__setattr__(cli.model, "_clap", embedder)  # the module's FAD embedder cache: same for every row
    values = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt, verbose=False)[0]
    result = flatten(values) | {
        "activity": activity_ratio(root),
        **x0_hedging(cli.model, cli.datamodule),
        **timing,
        "total_s": time.perf_counter() - t0,
        "steps": args.steps,
    }
    done.write_text(json.dumps(result | {"recipe": recipe(args, row, seed, root)}, indent=1))
    log.info("%s seed %d: %s", row, seed, {k: round(v, 4) for k, v in result.items()})
    return result


def x0_hedging(module: torch.nn.Module, datamodule: Any) -> dict[str, float]:
    """The x0-pan diagnostic at t = 0.995 (``experiments/pan_diagnostic.py``) on the test split: ``x0_corr`` and
    ``x0_slope`` of the conditional model's predicted pan on the true pan (slope < 1: an image hedged towards the
    centre) and ``x0_mae_one``, the mean absolute error of the conditional prediction on one-character chunks
    (pan units). The guided denoiser's slope: ``experiments/pan_diagnostic.py --guided``."""
    from pan_diagnostic import x0_pan

    try:
        out = x0_pan(module, datamodule, (0.995,))
    except ValueError as err:  # not a parametric-stereo backbone: the latent holds no pan channels
        log.info("no x0-pan diagnostic: %s", err)
        return {}
    corr, slope, *_ = out["t=0.995 tokens"]
    one_mae = out["t=0.995 tokens, one character"][3]
    return {"x0_corr": corr, "x0_slope": slope, "x0_mae_one": one_mae}


def _run_in_worker(args: argparse.Namespace, row: str, seed: int) -> dict[str, float]:
    """``run_row`` in a fresh process (``--jobs``): its own torch threads and FAD embedder (same seed)."""
    import multiprocessing

    # A spawned process inherits "spawn" as its default start method; its data-loader workers would then have
    # to pickle the webdataset pipeline. Fork them, as a run started from the command line does on Linux.
    if "fork" in multiprocessing.get_all_start_methods():
        multiprocessing.set_start_method("fork", force=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    return run_row(args, row, seed, fad_embedder(args.clap_checkpoint) if args.fad else None)


def _outcome(run: Callable[[], dict[str, float]], row: str, seed: int) -> dict[str, Any]:
    """A run's metrics, or ``{"error": ...}`` when it failed: one failed run never loses the others."""
    try:
        return run()
    except Exception as err:  # noqa: BLE001 - reported in the table and the log, the other runs go on
        log.exception("%s seed %d failed", row, seed)
        return {"error": f"{type(err).__name__}: {err}"}


class MemoEmbedder(torch.nn.Module):
    """A FAD embedder that embeds each distinct clip once and then answers from memory.

    The reference rows feed the same test audio to three row variants, each with a mono and an L/R FAD, and the
    ground-truth row passes it as preds and as target: 18 embedder inputs per clip, of which 6 differ (the mono
    FAD's clip, its channel swap and its downmix; the L/R FAD's left, right and downmix channels). Clips are
    keyed by content (sample rate, shape, SHA-1 of the bytes).
    """

    def __init__(self, embedder: torch.nn.Module):
        super().__init__()
        self.embedder = embedder
        self.name, self.sample_rate, self.dim = embedder.name, embedder.sample_rate, embedder.dim
        self.channel_handling = embedder.channel_handling
        self.cache: dict[tuple, torch.Tensor] = {}
        self.calls = self.embedded = 0  # clips asked for, clips actually embedded

    def forward(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        import hashlib

        keys = [
            (sample_rate, tuple(clip.shape), hashlib.sha1(clip.detach().cpu().contiguous().numpy().tobytes()).digest())
            for clip in audio
        ]
        todo: dict[tuple, int] = {}
        for i, key in enumerate(keys):
            if key not in self.cache and key not in todo:
                todo[key] = i
        if todo:
            feats = self.embedder(audio[list(todo.values())], sample_rate)
            self.cache.update(zip(todo, feats))
        self.calls, self.embedded = self.calls + len(keys), self.embedded + len(todo)
        return torch.stack([self.cache[key] for key in keys])


def reference_rows(args: argparse.Namespace, embedder: torch.nn.Module | None) -> dict[str, dict[str, float]]:
    """Ground truth, always-centre and channels-swapped: the test audio itself through the same metrics.

    Also creates the synthetic scenes on first use, so it runs before any training run.
    """
    from stereosync.cli import cli_main
    from stereosync.metrics import build_metrics

    cli = cli_main(cli_args(args, None, 0, Path(args.out) / "reference"), run=False)
    dm = cli.datamodule
    dm.prepare_data()
    dm.setup("test")
    variants = {
        "ground truth": lambda a: a,
        "always centre (mono downmix)": lambda a: a.mean(1, keepdim=True).expand_as(a),
        "channels swapped": lambda a: a.flip(1),
    }
    sr = cli.model.backbone.sample_rate
    memo = MemoEmbedder(embedder) if embedder is not None else None
    metrics = {name: build_metrics(sr, fad_embedder=memo, prefix="test/") for name in variants}
    for batch in dm.test_dataloader():
        target = batch["audio"].float()
        for name, fn in variants.items():
            metrics[name].update(preds=fn(target), target=target, boxes=batch["boxes"], box_mask=batch["box_mask"])
    rows = {name: flatten(m.compute()) for name, m in metrics.items()}
    if memo is not None:
        log.info("reference rows: %d clips embedded for %d embedder inputs", memo.embedded, memo.calls)
    rows["ground truth"]["activity"] = 1.0  # by definition; the other two change the level too, not reported
    return rows


def cell(values: list[float]) -> str:
    """One number, or mean ± half-range over seeds."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {(max(values) - min(values)) / 2:.3f}"


def table(results: dict[str, list[dict[str, float]]]) -> str:
    """Markdown table: one row per ablation (seeds pooled as mean ± half-range) or reference."""
    head = "| row | seeds | " + " | ".join(title for _, title in COLUMNS) + " | train min/run |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for row, all_runs in results.items():
        runs = [r for r in all_runs if "error" not in r]
        if not runs:
            lines.append(f"| {row} | failed: {all_runs[0]['error'][:80]} |" + " |" * (len(COLUMNS) + 1))
            continue
        cells = [cell([r.get(key, math.nan) for r in runs]) for key, _ in COLUMNS]
        minutes = f"{np.mean([r['fit_s'] for r in runs]) / 60:.1f}" if "fit_s" in runs[0] else "–"
        seeds = str(len(runs)) if "fit_s" in runs[0] else "–"
        lines.append(f"| {row} | {seeds} | " + " | ".join(cells) + f" | {minutes} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    import cfg_sweep
    import scene_bootstrap

    modes = "\n\n".join(m.parser().format_help() for m in (cfg_sweep, scene_bootstrap))
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"Other modes (the first argument):\n\n{modes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS, help="ablations to train")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds of the multi-seed rows")
    p.add_argument("--steps", type=int, default=1400, help="training steps per run")
    p.add_argument("--val-every", type=int, default=1000, help="validate every N epochs (of 50 steps)")
    p.add_argument(
        "--cfg-scale", type=float, default=None, help="classifier-free guidance scale at test (default: the config's)"
    )
    p.add_argument("--fad", type=lambda s: s.lower() == "true", default=True, help="compute FAD (true/false)")
    p.add_argument("--clap-checkpoint", default=None, help="LAION-CLAP checkpoint for FAD (default: random)")
    p.add_argument("--data-root", default="data/bench-16k", help="synthetic scenes (created on first use)")
    p.add_argument("--train-scenes", type=int, default=64)
    p.add_argument("--test-scenes", type=int, default=12, help="held-out scenes (3 clips of 2 s each)")
    p.add_argument("--num-workers", type=int, default=1)
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads: 1 (2 threads on a busy 2-core CPU ran 5-10x slower)"
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="runs side by side in separate processes (2 on a 2-core CPU, 1 thread each)"
    )
    p.add_argument("--out", default="runs/ablations", help="run folders")
    p.add_argument(
        "--reuse", action="store_true", help="read finished runs of the same recipe from --out instead of retraining"
    )
    p.add_argument(
        "--retest",
        action="store_true",
        help="test each run's trained last.ckpt in --out again (same training arguments) instead of training, e.g. "
        "at a --cfg-scale chosen on validation scenes (experiments/ablation.py --cfg-sweep)",
    )
    p.add_argument("--table", default="runs/ablations/table.md", help="markdown table to write")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="further CLI arguments for every run")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The ablation table; ``--cfg-sweep RUN...`` or ``--bootstrap RUN...`` first: that mode instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--cfg-sweep"]:
        import cfg_sweep

        return cfg_sweep.main(argv[1:])
    if argv[:1] == ["--bootstrap"]:
        import scene_bootstrap

        return scene_bootstrap.main(argv[1:])
    return train_and_test(argv)


def train_and_test(argv: Sequence[str]) -> dict[str, list[dict[str, float]]]:
    """Train and test every requested row; returns ``{row: [one result per seed]}`` (an ``error`` key: failed)."""
    """Run the benchmark; returns ``{row: [metrics per seed]}`` and writes the table."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.clap_checkpoint:
        args.extra = [f"--model.clap_checkpoint={args.clap_checkpoint}", *args.extra]
    embedder = fad_embedder(args.clap_checkpoint) if args.fad else None
    references = reference_rows(args, embedder)  # first: it also creates the scenes every run reads
    runs = [(row, seed) for row in args.rows for seed in (args.seeds if row in MULTI_SEED_ROWS else args.seeds[:1])]
    if args.jobs > 1:  # independent runs side by side, one process (and args.threads threads) each
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = [pool.submit(_run_in_worker, args, row, seed) for row, seed in runs]
            outcomes = [_outcome(f.result, row, seed) for f, (row, seed) in zip(done, runs)]
    else:
        outcomes = [_outcome(lambda r=row, s=seed: run_row(args, r, s, embedder), row, seed) for row, seed in runs]
    results: dict[str, list[dict[str, float]]] = {}
    for (row, _), outcome in zip(runs, outcomes):
        results.setdefault(row, []).append(outcome)
    results.update({name: [r] for name, r in references.items()})
    minutes = (time.perf_counter() - t0) / 60
    fad_keys = sorted({k for runs in results.values() for r in runs for k in r if k.startswith("fad_")})
    text = table(results) + f"\n\n{args.steps} steps per run; wall time {minutes:.1f} min; FAD column: "
    mono = [k for k in fad_keys if k.endswith("_mono")]
    text += f"{mono[0] if mono else 'off'} (all FAD variants in the .json: {', '.join(fad_keys) or 'none'})\n"
    Path(args.table).parent.mkdir(parents=True, exist_ok=True)
    Path(args.table).write_text(text)
    Path(args.table).with_suffix(".json").write_text(json.dumps(results, indent=1))
    log.info("wrote %s (%.1f min)\n%s", args.table, minutes, text)
    return results


if __name__ == "__main__":
    results = main()
    failed = [row for row, runs in results.items() if isinstance(runs, list) and any("error" in r for r in runs)]
    if failed:
        raise SystemExit(f"failed runs (see the log and the table): {', '.join(failed)}")
