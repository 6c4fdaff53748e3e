"""The command line, with tiny models saved to local folders (as a user's downloaded weights would be)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stereosync.extract.cli import build_parser, configs_from_args, run


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, tiny_depth, tiny_image_encoder, tiny_detector):
    """The tiny models and processors written with ``save_pretrained``, like hub snapshots on disk."""
    root = tmp_path_factory.mktemp("models")
    dirs = {}
    for name, wrapper in (("depth", tiny_depth), ("clip", tiny_image_encoder), ("detr", tiny_detector)):
        wrapper.model.save_pretrained(root / name)
        wrapper.processor.save_pretrained(root / name)
        dirs[name] = root / name
    return dirs


def cli_args(inputs, out, dirs, *extra) -> list[str]:
    return [
        "--inputs",
        str(inputs),
        "--out",
        str(out),
        "--depth-model",
        str(dirs["depth"]),
        "--image-encoder",
        str(dirs["clip"]),
        "--detector",
        str(dirs["detr"]),
        "--device",
        "cpu",
        "--precision",
        "float32",
        "--no-progress",
        "--detector-threshold",
        "0.0",
        *extra,
    ]


def test_defaults_and_flags_map_to_configs():
    args = build_parser().parse_args(
        [
            "--inputs",
            "v",
            "--out",
            "o",
            "-K",
            "2",
            "--classes",
            "person",
            "dog",
            "--depth-size",
            "0",
            "0",
            "--chunk-seconds",
            "4",
            "--no-clap-fusion",
        ]
    )
    run, model = configs_from_args(args)
    assert model.num_objects == 2 and model.classes == ("person", "dog") and model.depth_size is None
    assert model.clap_fusion is False and model.depth_backend == "transformers"
    assert run.decode.chunk_seconds == 4.0 and run.num_shards is None and run.samples_per_shard == 64


def _console(*args: str) -> subprocess.CompletedProcess:
    """``stereosync-extract ARGS`` as a real process (the console script of the installed package)."""
    return subprocess.run(
        [shutil.which("stereosync-extract") or "stereosync-extract", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def test_console_script_from_local_model_folders(synthetic_videos, model_dirs, read_shards, tmp_path):
    """A completed run exits 0, a bad input listed in the failures manifest included."""
    videos, _ = synthetic_videos
    (tmp_path / "bad.mp4").write_text("this is a text file, not a video\n" * 20)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{videos / 'scene11.mp4'}\n{tmp_path / 'bad.mp4'}\n")
    res = _console(*cli_args(listing, tmp_path / "out", model_dirs, "--samples-per-shard", "2", "-K", "2"))
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "out" / "summary-p0000.json").read_text())
    assert summary["chunks_written"] == 3 and summary["videos_failed"] == 1
    (failure,) = [json.loads(line) for line in (tmp_path / "out" / "failures-p0000.jsonl").read_text().splitlines()]
    assert failure["error"] == "NotAVideoError" and failure["path"].endswith("bad.mp4")
    samples = read_shards(tmp_path / "out")
    meta = next(iter(samples.values()))["json"]
    assert meta["depth_model"] == str(model_dirs["depth"]) and meta["tracker"].endswith("+bytetrack")
    assert meta["clap"].endswith(":random") and meta["classes"] == ["person"]
    assert all(s["boxes"].shape == (60, 2, 4) for s in samples.values())
    config = json.loads((tmp_path / "out" / "config-p0000.json").read_text())
    assert config["samples_per_shard"] == 2


def test_console_script_exit_status_when_the_run_cannot_complete(model_dirs, tmp_path):
    res = _console(*cli_args(tmp_path / "no_such_folder", tmp_path / "out", model_dirs))
    assert res.returncode == 1
    assert "stereosync-extract: error:" in res.stderr and "no_such_folder" in res.stderr
    assert "Traceback" not in res.stderr


def test_console_script_usage_error_exits_2(tmp_path):
    res = _console("--inputs", str(tmp_path))
    assert res.returncode == 2 and "--out" in res.stderr


def test_module_entry_point_help():
    res = subprocess.run(
        [sys.executable, "-m", "stereosync.extract", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert res.returncode == 0 and "--num-shards" in res.stdout and "--shard-index" in res.stdout


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(synthetic_videos, model_dirs, read_shards, tmp_path):
    """A real kill -9 of the command while it writes, then the same command again: each chunk once."""
    videos, scenes = synthetic_videos
    out = tmp_path / "out"
    args = cli_args(videos, out, model_dirs, "--samples-per-shard", "2", "--chunks-per-batch", "1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "stereosync.extract", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    log = out / "progress-p0000.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and log.read_text().count("\n") >= 2:  # two shards committed, more in flight
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = read_shards(out) if list(out.glob("*.tar")) else {}
    assert 0 < len(before) < 9
    run(args)
    after = read_shards(out)
    got = sorted((s["json"]["source"], s["json"]["chunk_index"]) for s in after.values())
    assert got == sorted((name, i) for name in scenes for i in range(3))
    assert not list(Path(out).glob("*.partial"))
