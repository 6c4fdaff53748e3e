"""Command line: ``python train.py fit|validate|test|predict`` (LightningCLI over StereoSync + ShardDataModule)."""

from __future__ import annotations

import os
from typing import Any

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
    if not run:
        return StereoSyncCLI(StereoSync, ShardDataModule, args=args, run=False, **kwargs)
    return StereoSyncCLI(StereoSync, ShardDataModule, args=args, **kwargs)
