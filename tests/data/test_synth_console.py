"""``stereosync-synth`` / ``python -m stereosync.data.synthetic`` as real processes: their exit status."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = {
    "console script": [shutil.which("stereosync-synth") or "stereosync-synth"],
    "module": [sys.executable, "-m", "stereosync.data.synthetic"],
}


def _run(command: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("how", COMMANDS)
def test_completed_run_exits_0(how: str, tmp_path: Path) -> None:
    res = _run(COMMANDS[how], "--out", str(tmp_path), "--num-scenes", "1", "--duration", "2", "--no-mp4")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1])["num_shards"] == 1
    assert (tmp_path / "train" / "shards" / "train-000000.tar").is_file()


def test_run_that_cannot_complete_exits_1_with_the_message(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    res = _run(COMMANDS["console script"], "--out", str(blocker), "--num-scenes", "1", "--duration", "2")
    assert res.returncode == 1
    assert "stereosync-synth: error:" in res.stderr and "a_file" in res.stderr and "Traceback" not in res.stderr


def test_usage_error_exits_2(tmp_path: Path) -> None:
    res = _run(COMMANDS["module"], "--out", str(tmp_path))
    assert res.returncode == 2 and "--num-scenes" in res.stderr
