"""``--ckpt_path last`` finds the last checkpoint of an earlier process of the same run folder."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml


def test_last_is_found_in_an_earlier_version_folder(tmp_path):
    from lightning.pytorch import Trainer
    from lightning.pytorch.loggers import TensorBoardLogger

    from stereosync.training.run_checkpoint import RunFolderModelCheckpoint

    for version in (0, 1):
        folder = tmp_path / f"version_{version}" / "checkpoints"
        folder.mkdir(parents=True)
        (folder / "last.ckpt").write_bytes(b"")
        time.sleep(0.01)
    callback = RunFolderModelCheckpoint(save_last=True)
    trainer = Trainer(
        logger=TensorBoardLogger(save_dir=tmp_path, name=""), callbacks=[callback], default_root_dir=tmp_path
    )
    assert trainer.loggers[0].version == 2  # a new process logs to a new version, as train.py does
    found = callback._find_last_checkpoints(trainer)
    assert {str(tmp_path / f"version_{v}" / "checkpoints" / "last.ckpt") for v in (0, 1)} <= found


def test_recipes_resume_with_ckpt_path_last():
    for recipe in ("configs/sao.yaml", "configs/tiny.yaml"):
        callbacks = yaml.safe_load((Path(__file__).resolve().parents[2] / recipe).read_text())["trainer"]["callbacks"]
        assert callbacks[0]["class_path"] == "stereosync.training.run_checkpoint.RunFolderModelCheckpoint", recipe


@pytest.mark.slow
def test_tiny_fit_resumes_with_ckpt_path_last(tmp_path):
    import subprocess
    import sys

    import torch

    common = [
        sys.executable,
        "train.py",
        "fit",
        "--config",
        "configs/tiny.yaml",
        "--data.steps_per_epoch=2",
        f"--trainer.default_root_dir={tmp_path / 'run'}",
        f"--data.synthetic.root={tmp_path / 'syn'}",
        "--data.synthetic.train_scenes=2",
        "--data.synthetic.val_scenes=1",
        "--data.synthetic.test_scenes=1",
        "--data.num_workers=0",
        "--trainer.enable_progress_bar=false",
    ]
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([*common, "--trainer.max_steps=2"], check=True, capture_output=True, cwd=repo)
    second = subprocess.run(
        [*common, "--trainer.max_steps=4", "--ckpt_path", "last"], capture_output=True, text=True, cwd=repo
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert "no last checkpoint available" not in second.stderr
    assert (
        torch.load(tmp_path / "run" / "version_1" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    )
