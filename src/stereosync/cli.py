"""Command line: ``python train.py fit|validate|test|predict`` (LightningCLI over StereoSync + ShardDataModule)."""

from __future__ import annotations

import os
from typing import Any

from lightning.pytorch.cli import LightningCLI

from datamodules.shards import ShardDataModule
from stereosync.lightning_module import StereoSync


def cli_main(args: list[str] | None = None, run: bool = True) -> LightningCLI:
    """Run the CLI. Every run saves its resolved ``config.yaml`` beside its logs.

    Args:
        args: command-line arguments (default: ``sys.argv[1:]``); tests pass a list.
        run: run the subcommand (``False`` only instantiates).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the hub; avoid minutes of retries
    kwargs: dict[str, Any] = {"save_config_kwargs": {"overwrite": True}, "seed_everything_default": 0}
    if not run:
        return LightningCLI(StereoSync, ShardDataModule, args=args, run=False, **kwargs)
    return LightningCLI(StereoSync, ShardDataModule, args=args, **kwargs)
