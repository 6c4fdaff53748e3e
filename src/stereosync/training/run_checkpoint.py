"""A ``ModelCheckpoint`` whose ``--ckpt_path last`` finds the last checkpoint of the whole run folder.

Lightning looks for ``last.ckpt`` in the checkpoint folder of the *current* logger version only. Each new process
of a recipe with a versioned logger (``TensorBoardLogger``, ``name: ""``) logs to the next ``version_N``, so
``python train.py fit ... --ckpt_path last`` after a crash looked in the new, empty ``version_N/checkpoints``,
loaded nothing and trained from scratch with only a warning. This callback also offers the ``last*.ckpt`` of every
earlier version of the same run folder; Lightning then resumes from the most recently written one.
"""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint


class RunFolderModelCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` (same arguments, same files); ``ckpt_path="last"`` searches the run folder:
    ``<logger save_dir>/<logger name>/version_*/checkpoints/last*.ckpt``, besides the current version's folder."""

    def _find_last_checkpoints(self, trainer) -> set[str]:
        found = set(super()._find_last_checkpoints(trainer))
        if self.dirpath is not None or not trainer.loggers:  # a fixed folder is searched by Lightning already
            return found
        logger = trainer.loggers[0]
        run = Path(logger.save_dir or trainer.default_root_dir) / str(logger.name or "")
        pattern = f"version_*/checkpoints/{self.CHECKPOINT_NAME_LAST}*{self.FILE_EXTENSION}"
        return found | {str(p) for p in run.glob(pattern)}
