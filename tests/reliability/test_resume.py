"""Exact resume after SIGKILL: a crash costs only the steps since the last checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, synthetic_root: Path, run: str) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    cfg["trainer"].update(default_root_dir=str(tmp_path / run), max_steps=12, enable_progress_bar=False)
    cfg["trainer"]["callbacks"] = [
        {
            "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
            "init_args": {
                "dirpath": str(tmp_path / run / "ckpt"),
                "save_last": True,
                "save_top_k": -1,
                "every_n_epochs": 1,
            },
        }
    ]
    cfg["data"].update(
        synthetic=None,
        batch_size=2,
        steps_per_epoch=3,
        num_workers=2,
        train_shards=str(synthetic_root / "train" / "shards"),
        val_shards=str(synthetic_root / "val" / "shards"),
        test_shards=str(synthetic_root / "test" / "shards"),
    )
    path = tmp_path / f"{run}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _fit(config: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), "fit", "--config", str(config), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _trainable(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical_at_epoch_boundaries(tmp_path, synthetic_root):
    reference = _fit(_config(tmp_path, synthetic_root, "ref"))
    assert reference.wait(timeout=900) == 0, reference.stderr.read()[-3000:]

    crashed_cfg = _config(tmp_path, synthetic_root, "crash")
    proc = _fit(crashed_cfg)
    ckpt_dir = tmp_path / "crash" / "ckpt"
    deadline = time.time() + 600
    while not list(ckpt_dir.glob("epoch=1-*.ckpt")) and time.time() < deadline:  # 2 of 4 epochs done
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    last = torch.load(ckpt_dir / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] < 12, "killed too late to test anything"
    assert "stereosync_rng" in last and last["optimizer_states"]

    resumed = _fit(crashed_cfg, "--ckpt_path", "last")
    assert resumed.wait(timeout=900) == 0, resumed.stderr.read()[-3000:]
    ref, res = _trainable(tmp_path / "ref" / "ckpt" / "last.ckpt"), _trainable(ckpt_dir / "last.ckpt")
    assert ref.keys() == res.keys()
    assert all(torch.equal(ref[k], res[k]) for k in ref), [k for k in ref if not torch.equal(ref[k], res[k])][:5]
    assert torch.load(ckpt_dir / "last.ckpt", weights_only=True)["global_step"] == 12
