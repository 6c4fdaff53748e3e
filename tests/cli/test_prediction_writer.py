"""Placing generated chunks on the video's time axis and naming the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from callbacks.prediction_writer import join_chunks, output_names


def test_overlapping_chunks_cross_fade_at_constant_power_and_the_tail_is_cut():
    sr = 1000
    rng = np.random.default_rng(0)
    chunks = [(start, rng.standard_normal((2, 2000)).astype(np.float32)) for start in (0.0, 1.5, 3.0)]
    out = join_chunks(chunks, sr, duration=4.2, fade_seconds=0.02)
    assert out.shape == (2, 4200)
    np.testing.assert_array_equal(out[:, :1500], chunks[0][1][:, :1500])  # one chunk only: untouched
    overlap = out[:, 1500:2000]  # chunk 0's last 0.5 s with chunk 1's first 0.5 s
    power = (overlap**2).mean()
    assert 0.8 < power < 1.2  # uncorrelated chunks, sine/cosine ramps: the power stays that of one chunk
    np.testing.assert_allclose(out[:, 1500], chunks[0][1][:, 1500], atol=1e-6)  # fade-in starts at 0
    np.testing.assert_allclose(out[:, 3500:4200], chunks[2][1][:, 500:1200], atol=1e-6)


def test_consecutive_chunks_get_a_short_fade_on_both_sides():
    ones = np.ones((2, 1000), np.float32)
    out = join_chunks([(0.0, ones), (1.0, ones)], 1000, duration=2.0, fade_seconds=0.01)
    assert out[0, 995] < 1 and out[0, 1000] == 0 and out[0, 1005] < 1 and out[0, 500] == 1


def test_output_names_keep_relative_paths_and_never_collide():
    names = output_names(["a/clip.mp4", "b/clip.mp4", "/x/y/one.mp4", "/x/z/one.mp4"])
    assert names["a/clip.mp4"] == Path("a/clip.mp4") and names["b/clip.mp4"] == Path("b/clip.mp4")
    assert names["/x/y/one.mp4"] == Path("y/one.mp4") and names["/x/z/one.mp4"] == Path("z/one.mp4")
    assert output_names(["/data/v/clip.mp4"]) == {"/data/v/clip.mp4": Path("clip.mp4")}


@pytest.mark.parametrize(
    "starts, length, duration",
    [
        ((0.0, 1.5, 3.0, 4.5), 2000, 5.7),  # overlapping chunks, padded tail cut
        ((0.0, 2.0, 4.0), 2000, 6.0),  # chunks that only touch
        ((0.0, 1.5), 2000, 6.0),  # the chunks end before the video: silence after them
        ((0.25, 2.5, 2.5, 3.1), 1000, 4.0),  # a gap, a repeated start, a late first chunk
    ],
)
def test_the_streamed_join_writes_what_join_chunks_computes(tmp_path, starts, length, duration):
    import soundfile

    from stereosync.stream_join import StreamingJoin

    sr = 1000
    rng = np.random.default_rng(1)
    chunks = [(s, rng.uniform(-0.6, 0.6, (2, length)).astype(np.float32)) for s in starts]
    join = StreamingJoin(tmp_path / "out.wav", sr, duration, fade_seconds=0.02, subtype="FLOAT")
    for start, audio in chunks:
        join.add(start, audio)
        assert join.pending.shape[1] <= 2 * length  # only the unfinished stretch stays in memory
    assert join.close() == pytest.approx(duration)
    streamed, rate = soundfile.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert rate == sr
    np.testing.assert_array_equal(streamed.T, join_chunks(chunks, sr, duration, fade_seconds=0.02))


def test_the_streamed_join_refuses_a_chunk_before_the_previous_one(tmp_path):
    from stereosync.stream_join import StreamingJoin

    join = StreamingJoin(tmp_path / "out.wav", 1000, 3.0, fade_seconds=0.02)
    join.add(1.0, np.zeros((2, 500), np.float32))
    with pytest.raises(ValueError, match=r"chunk at 0\.500 s arrives after the chunk at 1\.000 s"):
        join.add(0.5, np.zeros((2, 500), np.float32))
    join.abort()


def test_the_writer_finishes_each_video_when_the_next_begins_and_lists_a_failed_generation(tmp_path):
    from types import SimpleNamespace

    import torch
    from media_clips import FORMATS, decode_all, write_clip

    from callbacks.prediction_writer import PredictionWriter

    videos = {name: write_clip(FORMATS[name], tmp_path / "in") for name in ("mjpeg", "msmpeg4", "vp9")}
    trainer = SimpleNamespace(log_dir=None, default_root_dir=str(tmp_path), datamodule=None)
    writer = PredictionWriter(output_dir=str(tmp_path / "out"))
    writer.on_predict_start(trainer, None)

    def batch(name: str, starts: list[float], error: str | None = None) -> dict:
        meta = [{"source": f"{name}.x", "path": str(videos[name]), "start": s} for s in starts]
        out = {"meta": meta, "keys": [f"{name}_{i}" for i in range(len(starts))], "sample_rate": 16000}
        return out | ({"error": error} if error else {"generated": torch.rand(len(starts), 2, 32000) - 0.5})

    first = batch("mjpeg", [0.0])
    writer.on_predict_batch_end(trainer, None, first, None, 0)
    assert first["generated"].shape[-1] == 0  # written, so not kept in the returned predictions
    writer.on_predict_batch_end(trainer, None, batch("mjpeg", [1.5]), None, 1)
    assert not (tmp_path / "out" / "mjpeg.mp4").exists()
    writer.on_predict_batch_end(trainer, None, batch("msmpeg4", [0.0], "RuntimeError: out of memory"), None, 2)
    assert decode_all(tmp_path / "out" / "mjpeg.mp4")["channels"] == 2  # finished when the next video began
    writer.on_predict_batch_end(trainer, None, batch("msmpeg4", [1.5]), None, 3)
    writer.on_predict_batch_end(trainer, None, batch("vp9", [0.0, 1.5]), None, 4)
    videos["gone"] = tmp_path / "in" / "gone.mp4"  # removed after its extraction: its wav cannot be started
    writer.on_predict_batch_end(trainer, None, batch("gone", [0.0]), None, 5)
    writer.on_predict_end(trainer, None)

    failures = (tmp_path / "out" / "failures.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in failures]
    assert records[0] == {
        "file": str(videos["msmpeg4"]),
        "stage": "generate",
        "error": "RuntimeError: out of memory (samples msmpeg4_0)",
    }
    assert (records[1]["file"], records[1]["stage"]) == (str(videos["gone"]), "write") and len(records) == 2
    assert "gone.mp4" in records[1]["error"]
    assert not (tmp_path / "out" / "msmpeg4.wav").exists()
    assert decode_all(tmp_path / "out" / "vp9.mp4")["channels"] == 2
    assert writer.summary == {
        "done": 2,
        "failed": 2,
        "seconds": 4.0,
        "folder": str(tmp_path / "out"),
        "failures": str(tmp_path / "out" / "failures.jsonl"),
    }


@pytest.mark.slow
def test_the_writer_memory_does_not_grow_with_the_video_length(tmp_path):
    """A 1-minute and a 10-minute video (re-encoded picture, 2-s chunks every 1.5 s): the same peak of traced
    allocations, far below the 10-minute audio (211 MB as 44.1 kHz stereo float32)."""
    import tracemalloc
    from types import SimpleNamespace

    import torch
    from media_clips import ClipFormat, write_clip

    from callbacks.prediction_writer import PredictionWriter

    peaks = []
    for minutes in (1, 10):
        fmt = ClipFormat(f"long{minutes}", ".avi", "msmpeg4", "yuv420p", size=(64, 48))
        video = write_clip(fmt, tmp_path, seconds=60 * minutes, fps=5)
        trainer = SimpleNamespace(log_dir=None, default_root_dir=str(tmp_path), datamodule=None)
        writer = PredictionWriter(output_dir=str(tmp_path / "out"))
        writer.on_predict_start(trainer, None)
        starts = [i * 1.5 for i in range(int((60 * minutes - 2) / 1.5) + 2)]
        tracemalloc.start()
        for i in range(0, len(starts), 4):
            meta = [{"source": video.name, "path": str(video), "start": s} for s in starts[i : i + 4]]
            generated = torch.rand(len(meta), 2, 32000) - 0.5
            out = {"meta": meta, "keys": [str(i)] * len(meta), "sample_rate": 16000, "generated": generated}
            writer.on_predict_batch_end(trainer, None, out, None, i)
        writer.on_predict_end(trainer, None)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert writer.summary["done"] == 1 and writer.summary["seconds"] == 60 * minutes
    assert peaks[1] < 1.5 * peaks[0] and peaks[1] < 20e6


def test_predict_step_returns_a_failure_record_instead_of_raising(tiny_backbone, caplog):
    import dataclasses
    import logging

    from conftest import make_batch
    from helpers import tiny_module

    module = tiny_module(tiny_backbone)
    module.sampler = dataclasses.replace(module.sampler, steps=2)
    batch = make_batch(batch_size=2) | {
        "__key__": ["clip_a_0000", "clip_a_0001"],
        "meta": [{"source": "a.mp4", "start": 0.0}, {"source": "a.mp4", "start": 1.5}],
    }
    good = module.predict_step(batch, 0)
    assert good["generated"].shape[:2] == (2, 2) and "error" not in good
    broken = {k: v for k, v in batch.items() if k != "depth"}
    with caplog.at_level(logging.ERROR):
        failed = module.predict_step(broken, 1)
    assert "generated" not in failed and failed["error"].startswith("KeyError: ")
    assert failed["keys"] == batch["__key__"] and failed["meta"] == batch["meta"]
    assert "clip_a_0000, clip_a_0001 of a.mp4" in caplog.text
