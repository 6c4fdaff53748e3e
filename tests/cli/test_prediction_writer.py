"""Placing generated chunks on the video's time axis and naming the outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
