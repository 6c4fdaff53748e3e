"""The demo's progress: extraction and generation report their chunk counts and an estimate of the time left."""

from __future__ import annotations

import re

from stereosync.demo.engine import Engine, time_left


def test_time_left_extrapolates_the_elapsed_time():
    assert time_left(10.0, 0.5) == ", about 10 s left"
    assert time_left(30.0, 0.25) == ", about 1 min 30 s left"
    assert time_left(0.4, 0.9) == ", under a second left"
    assert time_left(0.1, 0.5) == "" and time_left(10.0, 0.0) == ""  # too early to tell


def test_generation_reports_monotone_progress_with_chunks_and_time_left(silent_video, tmp_path):
    calls: list[tuple[float, str]] = []
    engine = Engine(work_dir=tmp_path)
    from stereosync.demo.examples import example_sounds

    engine.generate(silent_video, example_sounds()["gravel"], steps=24, progress=lambda f, t: calls.append((f, t)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    texts = [t for _, t in calls]
    chunks = re.findall(r"extracting features \(depth, boxes, motion\): chunk (\d+) of (\d+)", " ".join(texts))
    assert chunks and chunks[-1][0] == chunks[-1][1]  # the extraction reaches its last chunk
    assert any(
        t.startswith("generating audio") and re.search(r"(about \d+ s|under a second) left", t) for t in texts
    ), texts
