"""Command line: ``python train.py fit|validate|test|predict`` (LightningCLI over StereoSync + ShardDataModule)."""

from __future__ import annotations

import os
import sys
from typing import Any

import yaml
from jsonargparse import Namespace
from lightning.pytorch.cli import LightningCLI

from datamodules.shards import ShardDataModule
from stereosync.lightning_module import StereoSync
from stereosync.run_folder import fill_logger_save_dir


class StereoSyncCLI(LightningCLI):
    """LightningCLI whose logger writes to ``trainer.default_root_dir`` unless its ``save_dir`` is given."""

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
