"""The package stands alone: its wheel, installed into a fresh virtual environment and run from a folder outside the
checkout, voices a silent video with the shipped weights (``stereosync predict``) and serves the demo's
``/generate``.

The fresh environment takes its third-party packages (torch, Lightning, …) from the test's own environment through
a path file, so nothing is downloaded; StereoSync itself comes only from the wheel.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _not_source(folder: str, names: list[str]) -> set[str]:
    """What a copy of the checkout leaves out: git, environments, run and data outputs, build leftovers, caches."""
    top = {".git", ".venv", "runs", "data", "build", "lightning_logs"} if Path(folder) == ROOT else set()
    return {n for n in names if n in top or n == "__pycache__" or n.endswith(".egg-info")}


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv folder, a work folder outside the checkout, environment) with only the wheel's StereoSync."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", OMP_NUM_THREADS="1")
    # Built from a copy: a build in the checkout would leave build/ there, whose stale files a later build reuses.
    source = tmp / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_not_source)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", source]
    _run(build, tmp, env)
    (wheel,) = (tmp / "dist").glob("stereosync-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp, env)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # Third-party packages of this environment; not its editable StereoSync (a path line processes no .pth files).
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", wheel], tmp, env)
    work = tmp / "elsewhere"
    work.mkdir()
    return venv, work, env


@pytest.fixture(scope="module")
def inputs(installed):
    from helpers import silent_mp4

    from callbacks.test_writer import write_wav
    from stereosync.data.synthetic import generate_scene

    _, work, _ = installed
    video = silent_mp4(generate_scene(seed=919, duration=2.5, sample_rate=16000), work / "in" / "walk.mp4")
    reference = work / "in" / "steps.wav"
    write_wav(reference, generate_scene(seed=920, duration=2.0, sample_rate=16000).audio, 16000)
    return video, reference


def test_the_installed_package_imports_from_the_wheel_not_the_checkout(installed):
    venv, work, env = installed
    code = "import stereosync, callbacks, datamodules as d; print(stereosync.__file__, callbacks.__file__, d.__file__)"
    out = _run([venv / "bin" / "python", "-c", code], work, env).stdout.split()
    assert out and all(str(venv) in path and str(ROOT) not in path for path in out), out


def test_predict_from_another_folder_with_the_packaged_recipe_and_shipped_weights(installed, inputs):
    venv, work, env = installed
    video, reference = inputs
    cmd = [venv / "bin" / "stereosync", "predict", "--config", "pkg://stereosync/configs/tiny.yaml"]
    cmd += ["--data.synthetic=null", "--data.num_workers=0", "--model.sampler.steps=4"]
    cmd += [f"--data.predict_videos={video}", f"--data.clap_reference={reference}", "--trainer.default_root_dir=runs"]
    done = _run(cmd, work, env)
    assert "shipped weights" in done.stderr
    outputs = sorted(p.name for p in (work / "runs" / "version_0" / "predict").glob("walk.*"))
    assert "walk.wav" in outputs and any(name.startswith("walk.") and name != "walk.wav" for name in outputs)


def test_the_installed_demo_serves_generate(installed, inputs):
    from gradio_client import Client, handle_file

    venv, work, env = installed
    video, reference = inputs
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = work / "demo.log"
    with log.open("w") as out:
        cmd = [str(venv / "bin" / "stereosync-demo"), "--port", str(port), "--work-dir", str(work / "demo")]
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the installed demo did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        result = Client(url, verbose=False).predict(
            handle_file(str(video)), handle_file(str(reference)), "none", 0, 4.0, 4, api_name="/generate"
        )
        assert Path(result[0]).is_file() and Path(result[1]).suffix == ".wav"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
