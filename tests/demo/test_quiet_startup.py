"""The main job's terminal: known-harmless third-party notices are dropped by message, sampler progress stays
inside Lightning's bar, and the epoch reads ``Epoch N`` with ``max_epochs: -1``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]

NOISE = (
    "pkg_resources is deprecated",
    "Should have ta>=t0",
    "flash_attn",
    "module(s) in eval mode",
    "LeafSpec",
    "Tip: For seamless cloud logging",
)


def test_the_cli_fit_prints_none_of_the_known_notices_and_a_sensible_epoch(synthetic_root, tmp_path):
    root = synthetic_root
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "fit",
        "--config",
        str(ROOT / "configs" / "tiny.yaml"),
        "--data.synthetic=null",
        f"--data.train_shards={root / 'train' / 'shards'}",
        f"--data.val_shards={root / 'val' / 'shards'}",
        "--data.batch_size=2",
        "--data.steps_per_epoch=2",
        "--data.num_workers=0",
        "--trainer.max_steps=4",
        "--trainer.val_check_interval=2",
        "--trainer.limit_val_batches=1",
        "--model.sampler.steps=3",
        f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--trainer.callbacks+=callbacks.audio_samples.AudioSampleLogger",  # generates clips: the SDE sampler runs
        "--trainer.callbacks.every_n_steps=2",
        "--trainer.callbacks.num_clips=1",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "default", "COLUMNS": "120"}  # pytest's own filters do not apply here
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    for notice in NOISE:
        assert notice not in text, f"{notice!r} printed:\n{text[-3000:]}"
    assert not re.search(r"\b3/3 \[", text), f"a sampler progress bar was printed:\n{text[-3000:]}"
    assert re.search(r"Epoch 1\b", text) and "/-2" not in text, text[-3000:]


def test_install_drops_the_listed_warnings_by_message_only():
    from stereosync import quiet

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet.install()
        warnings.warn("Should have ta>=t0 but got ta=0.02999 and t0=0.03.", UserWarning, stacklevel=1)
        warnings.warn("Found 125 module(s) in eval mode at the start of training.", UserWarning, stacklevel=1)
        warnings.warn("a different UserWarning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a different UserWarning"]


@pytest.mark.parametrize("sampler_type", ["dpmpp-2m", "dpmpp-3m-sde"])
def test_the_sampler_draws_no_bar_and_reports_steps_to_on_step(sampler_type, capfd):
    from stereosync.models.backbone import sample_k
    from stereosync.models.sampling import Sampler

    sampler = Sampler(sampler_type=sampler_type, steps=5, sigma_min=0.03, sigma_max=80)
    denoise = lambda x, t, **_: torch.tanh(x) * 0.5  # noqa: E731 - any smooth v-prediction
    noise = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(0))
    seen = []
    sampler.on_step = lambda step, steps: seen.append((step, steps))
    if sampler_type == "dpmpp-2m":
        out = sampler._sample_sigmas(denoise, noise)
    else:
        out = sampler._sample_sde(denoise, noise, [1, 2])
    captured = capfd.readouterr()
    assert "5/5" not in captured.err + captured.out
    assert seen == [(i, 5) for i in range(1, 6)] and out.shape == noise.shape
    if sampler_type == "dpmpp-2m":  # the same maths as stable-audio-tools' sample_k (which draws a bar)
        kwargs = {"steps": 5, "sampler_type": sampler_type, "sigma_min": 0.03, "sigma_max": 80, "device": "cpu"}
        assert torch.equal(out, sample_k(denoise, noise, **kwargs))
        assert "5/5" in capfd.readouterr().err  # the capture sees a bar when one is drawn
