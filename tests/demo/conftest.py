"""Fixtures of the demo tests: a silent synthetic video, a running ``stereosync-demo``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[2]


def silent_mp4(scene, path: Path) -> Path:
    """The scene's frames as an H.264 (else MPEG-4) mp4 without an audio stream."""
    from stereosync.data.render import video_codec

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream(video_codec(), rate=30)
        s.width, s.height, s.pix_fmt = scene.frames.shape[2], scene.frames.shape[1], "yuv420p"
        for img in scene.frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode(None))
    return path


def _stereo_seconds(mp4: str | Path) -> tuple[int, float]:
    with av.open(str(mp4)) as c:
        a = c.streams.audio[0]
        return a.codec_context.channels, sum(f.samples for f in c.decode(a)) / a.rate


@pytest.fixture(scope="package")
def stereo_seconds():
    """``f(mp4) → (audio channels, audio duration in s)`` of a file's first audio stream."""
    return _stereo_seconds


@pytest.fixture(scope="package")
def silent_video(tmp_path_factory) -> Path:
    """A 3-s synthetic scene without a soundtrack."""
    from stereosync.data.synthetic import generate_scene

    return silent_mp4(
        generate_scene(seed=611, duration=3.0, sample_rate=16000), tmp_path_factory.mktemp("v") / "walk.mp4"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="package")
def demo_url(tmp_path_factory):
    """``stereosync-demo`` with no flags but the port (the tiny recipe, its shipped vision models and trained
    weights) on 127.0.0.1; its URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("demo") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, "-m", "stereosync.demo.app", "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the demo did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
