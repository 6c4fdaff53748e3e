"""Benchmark: FAD on 10,000 × 512 features, ours (eigen-decompositions, torch) vs scipy ``sqrtm``, one run.

Usage: ``python bench/fad.py [--n 10000] [--dim 512] [--repeats 7] [--threads 1]``. Prints both timings side
by side (interleaved rounds, medians), the speed-up and whether the two values agree to 1e-6 relative (exit
status 1 if they do not). Two stages are timed: the Fréchet distance from (μ, Σ) (where the two methods differ:
matrix square root) and the whole computation from features (statistics included, the same O(N·D²) work on both
sides).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import scipy.linalg
import torch

from stereosync.metrics.functional.fad import frechet_distance, gaussian_sums, mean_cov_from_sums


def scipy_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.cov(x, rowvar=False)


def scipy_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    covmean, _ = scipy.linalg.sqrtm(s1 @ s2, disp=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def ours_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return mean_cov_from_sums(*gaussian_sums(x))


def timed_pair(ours: Callable[[], float], ref: Callable[[], float], repeats: int) -> tuple[tuple, tuple]:
    """((value, median s) of ours, (value, median s) of ref): one warm-up each, then ``repeats`` interleaved
    rounds in alternating order, so a burst of load on a shared machine hits both sides."""
    fns = {"ours": ours, "ref": ref}
    values = {k: fn() for k, fn in fns.items()}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats):
        for k in ("ours", "ref") if r % 2 == 0 else ("ref", "ours"):
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
    return (values["ours"], statistics.median(times["ours"])), (values["ref"], statistics.median(times["ref"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="embeddings per set")
    parser.add_argument("--dim", type=int, default=512, help="embedding size")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per method (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS/LAPACK threads for both sides (0: library default)"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        try:  # numpy/scipy's BLAS; threadpoolctl comes with scikit-learn (a laion-clap dependency)
            from threadpoolctl import threadpool_limits

            threadpool_limits(args.threads)
        except ImportError:
            print("threadpoolctl not installed: numpy/scipy use their default thread count")

    rng = np.random.default_rng(args.seed)
    d = args.dim
    a = rng.standard_normal((args.n, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
    b = rng.standard_normal((args.n, d)) @ rng.standard_normal((d, d)) / np.sqrt(d) + 0.1
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    mu_a, s_a = scipy_stats(a)
    mu_b, s_b = scipy_stats(b)
    tmu_a, ts_a = ours_stats(ta)
    tmu_b, ts_b = ours_stats(tb)

    rows = {
        "distance from (mu, Sigma)": timed_pair(
            lambda: float(frechet_distance(tmu_a, ts_a, tmu_b, ts_b)),
            lambda: scipy_distance(mu_a, s_a, mu_b, s_b),
            args.repeats,
        ),
        "end to end from features": timed_pair(
            lambda: float(frechet_distance(*ours_stats(ta), *ours_stats(tb))),
            lambda: scipy_distance(*scipy_stats(a), *scipy_stats(b)),
            args.repeats,
        ),
    }
    print(
        f"FAD, {args.n:,} x {d} features per set, float64, {torch.get_num_threads()} thread(s) per side, "
        f"median of {args.repeats}"
    )
    print(
        f"{'stage':<28}{'ours s':>15}{'scipy sqrtm s':>15}{'speed-up':>10}{'ours value':>20}"
        f"{'scipy value':>20}{'rel diff':>10}"
    )
    ok = True
    for stage, ((v_ours, t_ours), (v_ref, t_ref)) in rows.items():
        rel = abs(v_ours - v_ref) / abs(v_ref)
        ok &= rel <= 1e-6
        print(
            f"{stage:<28}{t_ours:>15.4f}{t_ref:>15.4f}{t_ref / t_ours:>9.1f}x{v_ours:>20.10f}{v_ref:>20.10f}"
            f"{rel:>10.1e}"
        )
    print("values agree to 1e-6 relative" if ok else "VALUES DISAGREE (> 1e-6 relative)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
