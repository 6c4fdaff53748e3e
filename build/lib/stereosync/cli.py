"""Command line: ``stereosync fit|validate|test|predict`` (= ``python train.py …``; LightningCLI over StereoSync +
ShardDataModule).

Recipes ship inside the package: ``--config pkg://stereosync/configs/tiny.yaml`` works from any folder (in a
checkout, ``configs/`` is the same folder). Trained weights for ``test``/``predict`` come from ``--ckpt_path`` — a
Lightning checkpoint or exported trainable weights (``.safetensors``, local or ``pkg://``) — or, without it, from the
recipe's ``shipped_weights``; a recipe without shipped weights refuses to generate with untrained ones.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from stereosync import quiet

quiet.install()  # before lightning (and torchmetrics) are imported: their import-time notices are dropped

import yaml  # noqa: E402
from jsonargparse import Namespace  # noqa: E402
from lightning.pytorch.callbacks import RichProgressBar  # noqa: E402
from lightning.pytorch.cli import LightningCLI  # noqa: E402

from datamodules.shards import ShardDataModule  # noqa: E402
from stereosync.lightning_module import StereoSync  # noqa: E402
from stereosync.run_folder import fill_logger_save_dir  # noqa: E402

log = logging.getLogger(__name__)

GENERATING = ("test", "predict")
"""Subcommands whose output depends on trained weights: they refuse to run on untrained ones."""


class EpochProgressBar(RichProgressBar):
    """Lightning's rich progress bar, whose epoch reads ``Epoch 5`` when epochs are unbounded (``max_epochs: -1``,
    training ends at ``max_steps``) instead of ``Epoch 5/-2``; ``Epoch 5/9`` with ``max_epochs: 10``."""

    def _get_train_description(self, current_epoch: int) -> str:
        max_epochs = self.trainer.max_epochs
        text = f"Epoch {current_epoch}" + (f"/{max_epochs - 1}" if max_epochs is not None and max_epochs > 0 else "")
        return f"{text:{len(self.validation_description)}}"  # padded like Lightning's: no flicker with "Validation"


class StereoSyncCLI(LightningCLI):
    """LightningCLI whose logger writes to ``trainer.default_root_dir`` unless its ``save_dir`` is given, and
    whose default progress bar is :class:`EpochProgressBar` (a configured one is kept)."""

    def parse_arguments(self, parser: Any, args: Any) -> None:
        if isinstance(args, dict | Namespace):
            return super().parse_arguments(parser, args)
        self.config = parser.parse_args(args, _skip_validation=True)  # save_dir may still be missing
        sub = self.config.get("subcommand")
        fill_logger_save_dir(self.config[sub].trainer if sub else self.config.trainer)
        try:
            parser.validate(self.config)
        except (TypeError, KeyError, ValueError) as err:
            parser.error(f"Validation failed: {err}")  # usage message and exit status 2, as argparse does
        self.weights_file = choose_weights(sub, self.config[sub] if sub else self.config)

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_argument(
            "--shipped_weights",
            type=str | None,
            default=None,
            help="Trained weights that come with the recipe (exported .safetensors, pkg:// allowed): test and "
            "predict use them when --ckpt_path is not given; fit ignores them (it trains from the recipe).",
        )

    def before_fit(self) -> None:
        self._load_weights()

    def before_validate(self) -> None:
        self._load_weights()

    def before_test(self) -> None:
        self._load_weights()

    def before_predict(self) -> None:
        self._load_weights()

    def _load_weights(self) -> None:
        if getattr(self, "weights_file", None) is None:
            return
        from stereosync.models.trainable_weights import load_trainable

        load_trainable(self.model, self.weights_file)
        self.model.weights_file = self.weights_file  # recorded in the test outputs' metrics.json

    def instantiate_trainer(self, **kwargs: Any):
        from lightning.pytorch.callbacks import ProgressBar

        config = self.config_init.get(self.subcommand, self.config_init) if self.subcommand else self.config_init
        configured = list((config.get("trainer", {}) or {}).get("callbacks") or [])  # a copy: the Trainer extends it
        trainer = super().instantiate_trainer(**kwargs)
        if not any(isinstance(c, ProgressBar) for c in configured):
            for i, callback in enumerate(trainer.callbacks):
                if type(callback) is RichProgressBar:  # Lightning's default
                    trainer.callbacks[i] = EpochProgressBar()
        return trainer


def choose_weights(subcommand: str | None, config: Any) -> str | None:
    """The exported weights a run loads into its model before it starts, or None (a Lightning checkpoint, or none).

    An exported file (``.safetensors`` or ``pkg://``) given as ``ckpt_path`` is taken out of ``config`` (Lightning
    reads only its own checkpoints) and returned; ``fit`` then starts from those weights with a new optimiser.
    ``test``/``predict`` without ``ckpt_path`` get the recipe's ``shipped_weights``.

    Raises:
        ValueError: ``test``/``predict`` without ``--ckpt_path`` on a recipe that has no shipped weights.
    """
    ckpt = config.get("ckpt_path") if subcommand else None
    if ckpt is not None and (str(ckpt).startswith("pkg://") or str(ckpt).endswith(".safetensors")):
        config.ckpt_path = None
        log.info("%s: trainable weights from %s", subcommand, ckpt)
        return str(ckpt)
    if subcommand not in GENERATING or ckpt is not None:
        return None
    shipped = config.get("shipped_weights")
    if shipped is None:
        raise ValueError(
            f"{subcommand}: this recipe has no shipped weights and no checkpoint was given, so the model would "
            f"generate with untrained weights: pass --ckpt_path=runs/<run>/version_N/checkpoints/last.ckpt "
            f"(or an exported .safetensors file)"
        )
    log.warning("%s: no --ckpt_path given: using the recipe's shipped weights %s", subcommand, shipped)
    return str(shipped)


def resolve_config_args(args: list[str]) -> list[str]:
    """``--config pkg://package/path`` (and ``--config=pkg://…``) → the installed file's path, for jsonargparse."""
    from stereosync.resources import PKG_SCHEME, resolve_path

    out = list(args)
    for i, arg in enumerate(out):
        if arg in ("--config", "-c") and i + 1 < len(out) and out[i + 1].startswith(PKG_SCHEME):
            out[i + 1] = str(resolve_path(out[i + 1]))
        elif arg.startswith(f"--config={PKG_SCHEME}"):
            out[i] = f"--config={resolve_path(arg.split('=', 1)[1])}"
    return out


def cli_main(args: list[str] | None = None, run: bool = True) -> LightningCLI:
    """Run the CLI. Every run saves its resolved ``config.yaml`` beside its logs.

    Args:
        args: command-line arguments (default: ``sys.argv[1:]``); tests pass a list.
        run: run the subcommand (``False`` only instantiates).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the hub; avoid minutes of retries
    args = resolve_config_args(sys.argv[1:] if args is None else args)
    kwargs: dict[str, Any] = {"save_config_kwargs": {"overwrite": True}, "seed_everything_default": 0}
    if names_its_module(args):
        # A recipe that names its LightningModule (`model: class_path: …`, e.g. configs/envelope_predictor.yaml)
        # runs in subclass mode; every StereoSync recipe keeps its flat `model:` section.
        kwargs["subclass_mode_model"] = True
        return StereoSyncCLI(None, ShardDataModule, args=args, run=run, **kwargs)
    return StereoSyncCLI(StereoSync, ShardDataModule, args=args, run=run, **kwargs)


def names_its_module(args: list[str]) -> bool:
    """Whether a ``--config`` file given in ``args`` has a ``model.class_path`` (a non-StereoSync module)."""
    for i, arg in enumerate(args):
        path = args[i + 1] if arg in ("--config", "-c") and i + 1 < len(args) else None
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                config = yaml.safe_load(fh) or {}
            model = config.get("model") if isinstance(config, dict) else None
            if isinstance(model, dict) and "class_path" in model:
                return True
    return False


def main(args: list[str] | None = None) -> None:
    """``stereosync`` / ``python train.py``: the CLI, with input errors shown as one message.

    A run that cannot start or go on because of its input (a bad config value, a missing file, a video that cannot
    be used) ends with the error's message and exit status 2, not a traceback (``STEREOSYNC_TRACEBACK=1`` shows
    it); ``predict`` ends with status 1 when some videos failed (each is listed in ``predict/failures.jsonl``).
    """
    try:
        cli = cli_main(args)
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("STEREOSYNC_TRACEBACK") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    summary = prediction_summary(cli)
    if summary is not None and summary.get("failed"):
        sys.exit(1)


def prediction_summary(cli: LightningCLI) -> dict[str, Any] | None:
    """The prediction writer's summary of a ``predict`` run (videos done / failed …), or None."""
    if getattr(cli, "subcommand", None) != "predict":
        return None
    for callback in cli.trainer.callbacks:
        if getattr(callback, "summary", None) is not None:
            return callback.summary
    return None
