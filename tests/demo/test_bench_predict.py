"""Smoke test of bench/predict.py: it voices a short silent video and splits the time into its stages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "predict.py"


def test_predict_bench_splits_the_time_into_stages_that_add_up(tmp_path):
    out = tmp_path / "predict.json"
    cmd = [sys.executable, str(BENCH), "--seconds", "2", "--repeats", "1", "--warmup", "0", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = json.loads(out.read_text())["seconds_per_video_second"]
    stages = ("decoding", "vision models", "envelope predictor", "generation", "muxing", "other")
    assert all(rows[k] > 0 for k in stages if k != "other"), rows
    assert abs(sum(rows[k] for k in stages) - rows["total"]) < 1e-6 and rows["other"] > -0.01
    assert "seconds of compute per second of video" in proc.stdout
