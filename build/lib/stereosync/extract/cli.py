"""Command line: ``stereosync-extract`` / ``python -m stereosync.extract``.

Example::

    export HF_HUB_OFFLINE=1
    stereosync-extract --inputs videos/ --out shards/ \\
        --depth-model models/Depth-Anything-V2-Small-hf --image-encoder models/clip-vit-large-patch14 \\
        --detector models/rtdetr_r50vd --clap-checkpoint models/630k-audioset-fusion-best.pt

Array jobs: add ``--num-shards N --shard-index $SLURM_ARRAY_TASK_ID``; under ``torchrun`` both come from
``WORLD_SIZE``/``RANK`` and each rank uses GPU ``LOCAL_RANK``. Re-running the same command resumes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from stereosync.extract.decode import DecodeConfig
from stereosync.extract.factory import PRESETS, ModelConfig, build_featurizer
from stereosync.extract.pipeline import ExtractConfig, run_extraction


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; defaults come from the config dataclasses."""
    m, d = ModelConfig(), DecodeConfig()
    p = argparse.ArgumentParser(
        prog="stereosync-extract",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    io = p.add_argument_group("input / output")
    io.add_argument("--inputs", required=True, help="folder of videos (recursive) or list file (one path a line)")
    io.add_argument("--out", required=True, help="output folder: shards, progress/failure logs, summary")
    io.add_argument(
        "--num-shards",
        type=int,
        default=None,
        help="partitions of the input list (default: " "$WORLD_SIZE under torchrun, else 1)",
    )
    io.add_argument("--shard-index", type=int, default=None, help="this process's partition (default: $RANK, else 0)")
    io.add_argument("--samples-per-shard", type=int, default=64, help="chunks per output tar")
    io.add_argument("--retry-failed", action="store_true", help="process videos that failed in an earlier run")
    io.add_argument("--no-progress", action="store_true", help="no progress bar")
    cut = p.add_argument_group("decoding")
    cut.add_argument("--chunk-seconds", type=float, default=d.chunk_seconds, help="chunk length (s)")
    cut.add_argument("--depth-fps", type=float, default=d.depth_fps, help="depth frame grid (Hz)")
    cut.add_argument("--box-fps", type=float, default=d.box_fps, help="box frame grid (Hz)")
    cut.add_argument("--sample-rate", type=int, default=d.sample_rate, help="audio rate (Hz)")
    cut.add_argument("--max-side", type=int, default=d.max_side, help="decoded frames' long side (pixels)")
    mod = p.add_argument_group("models")
    mod.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=m.preset,
        help="auto: per video tiny or people; people: OpenCV's HOG pedestrian detector and depth drawn from its "
        "boxes; tiny: the shipped synthetic-domain detector and depth model; all three K=2, no image encoder, no "
        "download (docs/vision_presets.md); a preset sets the model flags left at their defaults",
    )
    backends = ["transformers", "rollingdepth", "tiny", "boxes", "room", "auto"]
    mod.add_argument("--depth-backend", choices=backends, default=m.depth_backend)
    mod.add_argument("--depth-model", default=m.depth_model, help="depth model folder or hub id")
    mod.add_argument(
        "--image-encoder",
        default=m.image_encoder,
        help="depth-frame encoder: transformers folder/hub id, open_clip:<arch>:<ckpt>, or none",
    )
    mod.add_argument(
        "--depth-size",
        type=int,
        nargs=2,
        default=list(m.depth_size),
        metavar=("H", "W"),
        help="stored depth map size; 0 0 stores none",
    )
    mod.add_argument("--tracker", choices=["bytetrack", "masa"], default=m.tracker)
    mod.add_argument("--detector", default=m.detector, help="transformers object detector folder or hub id")
    mod.add_argument("--detector-threshold", type=float, default=m.detector_threshold)
    mod.add_argument("--track-activation-threshold", type=float, default=m.track_activation_threshold)
    mod.add_argument("--track-buffer", type=int, default=m.track_buffer, help="frames a lost track is kept")
    mod.add_argument(
        "--track-match-threshold",
        type=float,
        default=m.track_match_threshold,
        help="ByteTrack match threshold on 1 - IoU (0.9-0.95 for small/fast objects)",
    )
    mod.add_argument("--masa-config", default=None)
    mod.add_argument("--masa-checkpoint", default=None)
    mod.add_argument("--classes", nargs="+", default=list(m.classes), help="detector labels to track")
    mod.add_argument("--num-objects", "-K", type=int, default=m.num_objects, help="tracks kept per chunk (K)")
    mod.add_argument("--clap-checkpoint", default=None, help="LAION-CLAP .pt (random weights if omitted)")
    mod.add_argument(
        "--clap-fusion",
        action=argparse.BooleanOptionalAction,
        default=m.clap_fusion,
        help="fusion variant of HTSAT-tiny (must match the checkpoint)",
    )
    mod.add_argument("--envelope-mode", choices=["mono", "stereo"], default=m.envelope_mode)
    run = p.add_argument_group("compute")
    run.add_argument("--device", default=m.device, help="auto, cpu, cuda, cuda:1 ...")
    run.add_argument("--precision", choices=["auto", "float32", "float16", "bfloat16"], default=m.precision)
    run.add_argument("--batch-size", type=int, default=m.batch_size, help="frames per model forward pass")
    run.add_argument("--chunks-per-batch", type=int, default=4, help="chunks of a video processed together")
    p.add_argument("--log-level", default="INFO")
    return p


def configs_from_args(args: argparse.Namespace) -> tuple[ExtractConfig, ModelConfig]:
    """The run and model configs of parsed arguments."""
    depth_size = tuple(args.depth_size) if all(args.depth_size) else None
    model = ModelConfig(
        preset=args.preset,
        depth_backend=args.depth_backend,
        depth_model=args.depth_model,
        image_encoder=args.image_encoder,
        depth_size=depth_size,
        tracker=args.tracker,
        detector=args.detector,
        detector_threshold=args.detector_threshold,
        track_activation_threshold=args.track_activation_threshold,
        track_buffer=args.track_buffer,
        track_match_threshold=args.track_match_threshold,
        masa_config=args.masa_config,
        masa_checkpoint=args.masa_checkpoint,
        classes=tuple(args.classes),
        num_objects=args.num_objects,
        clap_checkpoint=args.clap_checkpoint,
        clap_fusion=args.clap_fusion,
        envelope_mode=args.envelope_mode,
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
    )
    decode = DecodeConfig(
        depth_fps=args.depth_fps,
        box_fps=args.box_fps,
        sample_rate=args.sample_rate,
        chunk_seconds=args.chunk_seconds,
        max_side=args.max_side,
    )
    run = ExtractConfig(
        inputs=args.inputs,
        out=args.out,
        num_shards=args.num_shards,
        shard_index=args.shard_index,
        samples_per_shard=args.samples_per_shard,
        chunks_per_batch=args.chunks_per_batch,
        retry_failed=args.retry_failed,
        progress_bar=not args.no_progress,
        decode=decode,
    )
    return run, model


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv``, load the models, run the extraction; returns the run summary."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_cfg, model = configs_from_args(args)
    featurizer, names = build_featurizer(model)
    run_cfg.extra_meta = names
    return run_extraction(run_cfg, featurizer)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: 0 after a completed run (failed inputs are listed in the failures manifest),
    1 when the run could not complete (the message, not a traceback), 2 on a usage error (argparse)."""
    try:
        run(argv)
    except (OSError, ValueError, RuntimeError) as err:
        print(f"stereosync-extract: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
