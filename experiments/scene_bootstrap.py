"""How much of a Spatial AV-Align gap is the choice of test scenes? A paired bootstrap over scenes (issue 7).

Spatial AV-Align pools events over clips: hits / events. The benchmark's held-out set is small (12 scenes, 36
clips), so which scenes were drawn moves the score. This script reads the per-clip counts the test writer saved
for one or more tested runs (``version_*/test/clips_rank*.csv``: the generated clip's hits and events and the
reference clip's, on the same boxes), groups clips by scene (key ``<split>_<scene>_<chunk>``) and resamples scenes
with replacement. Each resample scores every run and the ground truth on the *same* scenes, so the ratio
"mean over runs / ground truth" is paired. Prints the point estimate and a percentile interval.

    python bench/scene_bootstrap.py runs/ablations_2800/full-seed0 runs/ablations_2800/full-seed1
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from runlib import versions


def scene_counts(run: Path) -> dict[str, np.ndarray]:
    """``{scene: [hits, events, reference hits, reference events]}`` from a run's newest test."""
    tested = [v for v in versions(run) if any(v.glob("test/clips_rank*.csv"))]
    if not tested:
        raise FileNotFoundError(f"{run}: no version_*/test/clips_rank*.csv (test the run first)")
    counts: dict[str, np.ndarray] = {}
    for path in sorted(tested[-1].glob("test/clips_rank*.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                scene = row["key"].rsplit("_", 1)[0]
                tp, fn = int(row["spatial_tp"]), int(row["spatial_fn"])
                rtp, rfn = int(row["spatial_tp_reference"]), int(row["spatial_fn_reference"])
                counts[scene] = counts.get(scene, np.zeros(4)) + np.array([tp, tp + fn, rtp, rtp + rfn])
    return counts


def bootstrap(runs: Sequence[Path], resamples: int = 5000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Point estimates and percentile intervals of the runs' mean score, the ground truth and their ratio."""
    per_run = [scene_counts(run) for run in runs]
    scenes = sorted(per_run[0])
    for run, counts in zip(runs, per_run):
        if sorted(counts) != scenes:
            raise ValueError(f"{run} was tested on other scenes than {runs[0]}; a paired bootstrap needs the same")
    table = np.stack([[counts[s] for s in scenes] for counts in per_run])  # (runs, scenes, 4)

    def scores(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sums = table[:, idx].sum(axis=-2)  # (..., runs, 4) summed over the drawn scenes
        model = (sums[..., 0] / sums[..., 1]).mean(axis=0)  # mean over runs
        truth = sums[0, ..., 2] / sums[0, ..., 3]  # the reference is the same audio for every run
        return model, truth

    model, truth = scores(np.arange(len(scenes)))
    rng = np.random.default_rng(seed)
    b_model, b_truth = scores(rng.integers(0, len(scenes), size=(resamples, len(scenes))))  # (resamples,) each
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out = {"scenes": float(len(scenes)), "runs": float(len(runs))}
    for name, point, boot in (
        ("model", model, b_model),
        ("ground_truth", truth, b_truth),
        ("ratio", model / truth, b_model / b_truth),
    ):
        out[name] = float(point)
        out[f"{name}_lo"], out[f"{name}_hi"] = (float(np.percentile(boot, q)) for q in (lo, hi))
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="experiments/ablation.py --bootstrap", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="tested run folders (the same test scenes)")
    p.add_argument("--resamples", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", type=float, default=0.95, help="interval level")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args = parser().parse_args(argv)
    out = bootstrap(args.runs, args.resamples, args.seed, args.level)
    pct = f"{args.level:.0%}"
    print(f"{len(args.runs)} run(s), {out['scenes']:.0f} scenes, {args.resamples} scene resamples, {pct} intervals")
    for name in ("model", "ground_truth", "ratio"):
        print(f"  {name:<13} {out[name]:.3f}  [{out[name + '_lo']:.3f}, {out[name + '_hi']:.3f}]")
    return out
