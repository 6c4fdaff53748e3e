"""Command line: ``python train.py fit|validate|test|predict`` (LightningCLI over StereoSync + ShardDataModule)."""

from __future__ import annotations

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


def cli_main(args: list[str] | None = None, run: bool = True) -> LightningCLI:
    """Run the CLI. Every run saves its resolved ``config.yaml`` beside its logs.

    Args:
        args: command-line arguments (default: ``sys.argv[1:]``); tests pass a list.
        run: run the subcommand (``False`` only instantiates).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the hub; avoid minutes of retries
    kwargs: dict[str, Any] = {"save_config_kwargs": {"overwrite": True}, "seed_everything_default": 0}
    if names_its_module(sys.argv[1:] if args is None else args):
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
