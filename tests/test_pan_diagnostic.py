"""Smoke test of ``experiments/pan_diagnostic.py``: the x0-pan diagnostic runs end to end on a checkpoint."""

from __future__ import annotations

import math
from pathlib import Path

import pan_diagnostic
import torch

from stereosync.cli import cli_main

REPO = Path(__file__).resolve().parents[1]


def test_diagnostic_reports_correlation_and_slope_with_and_without_tokens(tmp_path):
    data = ["--data.synthetic.root", str(tmp_path / "data"), "--data.synthetic.train_scenes=1"]
    data += ["--data.synthetic.val_scenes=1", "--data.synthetic.test_scenes=2", "--data.num_workers=0"]
    cli = cli_main(["--config", str(REPO / "configs" / "tiny.yaml"), *data], run=False)
    torch.save({"state_dict": cli.model.state_dict()}, tmp_path / "init.ckpt")  # the untrained full model
    out = pan_diagnostic.main(
        [str(tmp_path / "init.ckpt"), "--times", "0.5", "--data-root", str(tmp_path / "data")]
        + ["--train-scenes", "1", "--test-scenes", "2", "--extra", "--data.synthetic.val_scenes=1"]
    )
    assert {"t=0.5 tokens", "t=0.5 null", "t=0.5 tokens, one character", "t=0.5 null, one character"} == set(out)
    corr, slope, frames, mae, bias = out["t=0.5 tokens"]
    # at t = 0.5 the noisy latent still shows the pan: the pretrained backbone's x0 (ControlNet at zero) follows it
    assert 0.5 < corr <= 1.0 and 0.3 < slope < 1.5 and not math.isnan(corr) and frames > 0
    assert 0.0 < mae < 0.5 and abs(bias) <= mae  # pan units: the true pan spans −1 … 1
