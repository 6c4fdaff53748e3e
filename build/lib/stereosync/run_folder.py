"""One run folder per recipe: ``trainer.default_root_dir`` also places the logger's files.

A recipe names its run folder once, as ``trainer.default_root_dir``. A logger whose ``save_dir`` is not
given (null) gets that folder, so ``--trainer.default_root_dir=runs/x`` on the command line moves logs,
``config.yaml`` and checkpoints (which Lightning places under the first logger's folder) together. A
``save_dir`` set explicitly is kept.
"""

from __future__ import annotations

import os
from typing import Any


def fill_logger_save_dir(trainer_config: Any) -> None:
    """Set each configured logger's missing ``init_args.save_dir`` to ``default_root_dir`` (in place).

    Args:
        trainer_config: the parsed ``trainer`` section (a jsonargparse Namespace) of one subcommand.
    """
    root = getattr(trainer_config, "default_root_dir", None) or os.getcwd()
    loggers = getattr(trainer_config, "logger", None)
    for logger in loggers if isinstance(loggers, list) else [loggers]:
        init_args = getattr(logger, "init_args", None)
        if init_args is not None and "save_dir" in init_args and init_args.save_dir is None:
            init_args.save_dir = str(root)
