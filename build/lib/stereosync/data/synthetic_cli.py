"""Command line of the synthetic benchmark: ``stereosync-synth`` / ``python -m stereosync.data.synthetic``.

Writes synthetic scenes (:mod:`stereosync.data.synthetic`) as mp4s and/or shards and prints a one-line json
summary::

    python -m stereosync.data.synthetic --out data/synth --num-scenes 64 --split train
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stereosync.data.synthetic import ClapEncoder, write_synthetic_dataset


def _clap_from_cli(checkpoint: str | None) -> ClapEncoder:
    from stereosync.clap import ClapAudioEncoder  # lazy: laion_clap is heavy

    encoder = ClapAudioEncoder(checkpoint or None)

    def embed(audio: np.ndarray, sample_rate: int) -> np.ndarray:
        return encoder.embed_numpy(audio, sample_rate)

    embed.name = f"{encoder.name}:{Path(checkpoint).name if checkpoint else 'random'}"  # type: ignore[attr-defined]
    return embed


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line, in process: write synthetic scenes as mp4s and/or shards; prints a one-line json summary."""
    p = argparse.ArgumentParser(
        prog="python -m stereosync.data.synthetic",
        description="Write synthetic spatial scenes: mp4s and shards with their ground truth.",
    )
    p.add_argument("--out", required=True, help="output folder; writes <out>/<split>/{videos,shards}")
    p.add_argument("--num-scenes", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="train")
    p.add_argument("--sample-rate", type=int, default=44100)
    p.add_argument("--duration", type=float, default=6.0, help="scene length in s (2-s chunks per shard sample)")
    p.add_argument("--samples-per-shard", type=int, default=32)
    p.add_argument("--no-mp4", action="store_true", help="do not write mp4s")
    p.add_argument("--no-shards", action="store_true", help="do not write shards")
    p.add_argument(
        "--clap",
        nargs="?",
        const="",
        default=None,
        metavar="CKPT",
        help="embed chunks with LAION-CLAP (checkpoint path; none given = random weights)",
    )
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    clap = None if args.clap is None else _clap_from_cli(args.clap)
    summary = write_synthetic_dataset(
        args.out,
        args.num_scenes,
        args.seed,
        args.split,
        args.sample_rate,
        args.duration,
        not args.no_mp4,
        not args.no_shards,
        args.samples_per_shard,
        clap,
    )
    print(json.dumps({k: v for k, v in summary.items() if k != "shards"} | {"num_shards": len(summary["shards"])}))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: 0 after a completed run, 1 when it could not complete (the message, not a
    traceback), 2 on a usage error (argparse)."""
    import sys

    try:
        run(argv)
    except (OSError, ValueError) as err:
        print(f"stereosync-synth: error: {err}", file=sys.stderr)
        return 1
    return 0
