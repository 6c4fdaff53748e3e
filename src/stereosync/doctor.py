"""``stereosync-doctor``: before a run starts, check everything it will load; one line per check.

Takes the same ``--config`` files and dotted overrides as ``train.py`` (parsed by the project's LightningCLI
parser, without instantiating the model), optionally after the subcommand the run will use (``fit`` checks
the training and validation shards, ``test`` the test shards and the FAD's CLAP checkpoint, ``predict`` the
extraction models; no subcommand checks all of them)::

    python -m stereosync.doctor fit --config configs/sao.yaml --model.backbone.init_args.weights models/sao

Each line reads ``OK``, ``SKIP`` (not applicable here, e.g. no GPU) or ``FAIL`` with the problem and its fix.
The exit status is 1 when any check fails.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from stereosync.doctor_checks import (
    Check,
    check_clap,
    check_sao_config,
    check_sao_weights,
    check_transformers_folder,
    ok,
)
from stereosync.doctor_checks import fail as _fail
from stereosync.doctor_resources import CHECKPOINT_GIB, Width, check_disk, check_gpu, check_shards

SUBCOMMANDS = ("fit", "validate", "test", "predict")
HELP = """Arguments: [fit|validate|test|predict], then train.py's own (`python train.py fit --help` lists all), e.g.
  --config FILE                                  a recipe (repeatable), e.g. configs/sao.yaml
  --model.backbone.init_args.weights DIR         the stable-audio-open-1.0 folder (or $STEREOSYNC_SAO_DIR)
  --model.clap_checkpoint FILE                   LAION-CLAP checkpoint of test's FAD
  --data.train_shards DIR  --data.val_shards DIR  --data.test_shards DIR
  --data.predict_models.depth_model DIR          --data.predict_models.detector DIR
  --data.predict_models.image_encoder DIR        --data.predict_models.clap_checkpoint FILE
  --trainer.default_root_dir DIR                 where checkpoints go (free disk is checked there)"""
SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ()}


def parse_recipe(args: list[str]) -> Any:
    """The run's configuration as ``train.py`` resolves it (a jsonargparse Namespace), nothing instantiated."""
    from datamodules.shards import ShardDataModule
    from stereosync.cli import StereoSyncCLI, names_its_module
    from stereosync.lightning_module import StereoSync

    if names_its_module(args):
        raise SystemExit("stereosync-doctor checks StereoSync recipes (a flat `model:` section), not other modules")

    class _ParseOnly(StereoSyncCLI):
        def instantiate_classes(self) -> None:
            """Parsing is all the doctor needs: the 1 B-parameter model is never built."""

    cli = _ParseOnly(StereoSync, ShardDataModule, args=args, run=False, seed_everything_default=0)
    return cli.config


def _get(ns: Any, dotted: str, default: Any = None) -> Any:
    for part in dotted.split("."):
        if ns is None:
            return default
        ns = ns.get(part) if hasattr(ns, "get") else getattr(ns, part, None)
    return default if ns is None else ns


def sao_checks(config: Any) -> list[Check]:
    """The backbone's weights folder: config architecture, every tensor, the file whole."""
    from stereosync.models.backbone import WEIGHTS_ENV, resolve_weights

    backbone = _get(config, "model.backbone.init_args")
    model_config = _get(backbone, "model_config", "sao_1_0")
    model_config = model_config if isinstance(model_config, str) else dict(model_config)
    try:
        path = resolve_weights(_get(backbone, "weights"))
    except FileNotFoundError as err:
        return [
            _fail("sao weights", str(err), "point model.backbone.init_args.weights at the stable-audio-open-1.0 folder")
        ]
    if path is None:
        return [
            _fail(
                "sao weights",
                f"none set (model.backbone.init_args.weights, ${WEIGHTS_ENV}): the backbone " "would be random",
                "download stabilityai/stable-audio-open-1.0 and set " "model.backbone.init_args.weights to its folder",
            )
        ]
    checks = [check_sao_weights(path, model_config)]
    if path.name == "model.safetensors":
        checks.insert(0, check_sao_config(path.parent, model_config))
    return checks


def extraction_checks(config: Any) -> list[Check]:
    """The extraction models of ``data.predict_models`` (those ``predict`` runs on its videos)."""
    from stereosync.extract.factory import ModelConfig
    from stereosync.realformat.vision import SNAPSHOTS

    models = _get(config, "data.predict_models")
    cfg = models if isinstance(models, ModelConfig) else ModelConfig(**dict(models or {}))
    checks = [
        check_transformers_folder("depth", cfg.depth_model, SNAPSHOTS["depth"].hub_id),
        check_transformers_folder("detector", cfg.detector, SNAPSHOTS["detector"].hub_id, tuple(cfg.classes)),
    ]
    if not cfg.image_encoder.startswith("open_clip:"):
        checks.append(check_transformers_folder("image_encoder", cfg.image_encoder, SNAPSHOTS["image_encoder"].hub_id))
    checks.append(check_clap(cfg.clap_checkpoint, cfg.clap_fusion, "data.predict_models.clap_checkpoint"))
    return checks


def envelope_check(config: Any) -> Check:
    """``data.envelope_predictor`` against the run: ``predict`` refuses, before extracting, a predictor trained at
    another sample rate or object count where it needs one (a silent video, or ``envelope_source: predicted``);
    with ``auto`` a misfit only concerns silent videos, so it is reported as SKIP with the reason."""
    from datamodules.predict import check_envelope_predictor
    from stereosync.extract.factory import ModelConfig

    name, source = "envelope predictor", _get(config, "data.envelope_source", "auto")
    if source == "audio":
        return Check(name, "SKIP", "data.envelope_source=audio: every envelope comes from the video's own audio")
    models = _get(config, "data.predict_models")
    cfg = models if isinstance(models, ModelConfig) else ModelConfig(**dict(models or {}))
    path, rate = _get(config, "data.envelope_predictor"), int(_get(config, "data.sample_rate", 44100))
    why = "data.envelope_source=predicted" if source == "predicted" else "a silent video"
    model = _get(config, "model")
    clap = model.get("clap", True) if hasattr(model, "get") else getattr(model, "clap", True)
    no_clap = None  # a predictor that reads CLAP needs the generator's timbre reference
    if model is not None and clap is None:
        no_clap = "the model has no CLAP stream (model.clap: null), so nothing gives the timbre"
    try:
        check_envelope_predictor(path, rate, cfg.num_objects, why, no_clap)
    except (ValueError, OSError) as err:
        if source == "predicted":
            return _fail(name, str(err).split("; ")[0], str(err).split(": ", 1)[-1])
        return Check(name, "SKIP", f"silent videos would be refused: {str(err).split('; ')[0]}")
    return ok(name, f"{path}: trained on {rate}-Hz audio with K={cfg.num_objects}, as this run")


def machine_checks(config: Any) -> list[Check]:
    """Free disk for the checkpoints and GPU memory for the batch."""
    callbacks = _get(config, "trainer.callbacks") or []
    ckpt = next((c for c in callbacks if str(_get(c, "class_path", "")).endswith("ModelCheckpoint")), None)
    keep = int(_get(ckpt, "init_args.save_top_k", 1)) + bool(_get(ckpt, "init_args.save_last", False)) if ckpt else 1
    dtype = _get(config, "model.checkpoint_dtype", "float32")
    root = _get(config, "trainer.default_root_dir") or "."
    bf16 = _get(config, "model.backbone.init_args.dtype", "float32") == "bfloat16"
    return [
        check_disk(root, max(keep, 1), CHECKPOINT_GIB[dtype]),
        check_gpu(int(_get(config, "data.batch_size", 1)), bf16),
    ]


def member_widths(config: Any) -> tuple[Width, ...]:
    """The shard member widths the recipe's encoders fix: the depth-frame embedding and the tracked objects."""
    widths = []
    depth = _get(config, "model.depth.init_args")
    if depth is not None and _get(depth, "source", "embedding") == "embedding":
        size = int(_get(depth, "embed_dim", 1024))
        widths.append(Width("depth_emb", -1, size, "model.depth.init_args.embed_dim", "--image-encoder"))
    boxes = _get(config, "model.boxes.init_args")
    if boxes is not None:
        size = int(_get(boxes, "num_objects", 1))
        widths.append(Width("boxes", 1, size, "model.boxes.init_args.num_objects", "-K"))
    return tuple(widths)


def run_checks(config: Any, subcommand: str | None) -> list[Check]:
    """Every check that applies to ``subcommand`` (all of them for None)."""
    stages = SUBCOMMANDS if subcommand is None else (subcommand,)
    checks = sao_checks(config)
    rate = int(_get(config, "data.sample_rate", 44100))
    widths = member_widths(config)
    for split in dict.fromkeys(s for stage in stages for s in SPLITS[stage]):
        checks.append(check_shards(split, _get(config, f"data.{split}_shards"), rate, widths))
    if "test" in stages:
        checks.append(check_clap(_get(config, "model.clap_checkpoint"), True, "model.clap_checkpoint, test's FAD"))
    if "predict" in stages:
        checks.extend(extraction_checks(config))
        checks.append(envelope_check(config))
    if "fit" in stages:
        checks.extend(machine_checks(config))
    return checks


def main(argv: list[str] | None = None) -> int:
    """Parse, check, print one line per check; exit status 1 when any check fails."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        print(HELP)
        return 0
    subcommand = argv.pop(0) if argv[:1] and argv[0] in SUBCOMMANDS else None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.ERROR)  # the report is the output; library logs would interleave with it
    checks = run_checks(parse_recipe(argv), subcommand)
    for check in checks:
        print(check.line(), flush=True)
    failed = sum(c.status == "FAIL" for c in checks)
    print(f"{len(checks)} checks: {failed} failed" if failed else f"{len(checks)} checks: all passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
