"""The real run rehearsed end to end on the real-format files (experiments/rehearsal.py), as the slow suite runs it.

Every stage of docs/real_run.md runs as its own process on the full-size models, each checked by the rehearsal
(shards, checkpoints, wavs, the demo's reload); the settings that keep it within about 15 minutes on a 2-core
CPU: 1-s chunks (one chunk per video), 2 training steps, 2 sampler steps, 5 envelope-predictor steps. The
real-format files are made on first use under ``$STEREOSYNC_REALFORMAT_ROOT``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REALFORMAT_ROOT = os.environ.get("STEREOSYNC_REALFORMAT_ROOT", os.path.expanduser("~/.cache/stereosync/realformat"))
STAGES = (
    "extract (5.1, 48 kHz)",
    "doctor",
    "fit, killed after its first checkpoint",
    "fit resumed (--ckpt_path last)",
    "fit, backbone.dtype bfloat16 (1 step)",
    "validate",
    "test",
    "envelope predictor: fit 5 steps on the shards",
    "envelope predictor: export",
    "predict (silent portrait video)",
    "demo engine --config configs/sao.yaml (silent video)",
)
SETTINGS = ["--seconds", "1.5", "--chunk-seconds", "1", "--steps", "2", "--sampler-steps", "2", "--envelope-steps", "5"]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 12 minutes on a 2-core CPU (docs/benchmarks.md); headroom for slower runners
def test_the_real_run_rehearses_end_to_end_on_real_format_files(tmp_path):
    cmd = [sys.executable, str(REPO / "experiments" / "rehearsal.py"), "--root", REALFORMAT_ROOT]
    cmd += ["--work", str(tmp_path / "rehearsal"), *SETTINGS]
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}:{REPO}", HF_HUB_OFFLINE="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    rows = [line.split(" | ") for line in proc.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r[0].lstrip("| ") for r in rows[1:]] == list(STAGES)  # every stage ran, in order, each checked
    assert all(r[-1].strip(" |") and "FAILED" not in r[-1] and "exit" not in r[-1] for r in rows[1:])
    shutil.rmtree(tmp_path / "rehearsal")  # ~7 GB of real-size checkpoints; kept when the test fails
