"""Binaural and FOA ground truth of the synthetic scenes: the stereo scene unchanged, the 3-D renders on disk."""

from __future__ import annotations

import numpy as np
import pytest

from stereosync.data import schema
from stereosync.data.scene import make_track, render_steps
from stereosync.data.synthetic import generate_scene, scene_to_samples
from stereosync.spatial.scene_render import SpatialRender


def test_the_stereo_mix_does_not_depend_on_the_3d_renders():
    """The benchmark's figures depend on the stereo staying as it was: the 3-D renders draw from a fourth seed
    stream, which leaves the first three as a three-way split made them, and watching the steps as they are mixed
    (``on_step``) changes nothing in the mix."""
    seed = 9  # two characters
    three, four = np.random.SeedSequence(seed).spawn(3), np.random.SeedSequence(seed).spawn(4)
    for old, new in zip(three, four):
        assert np.random.default_rng(old).random(4).tolist() == np.random.default_rng(new).random(4).tolist()
    rng = np.random.default_rng(seed)
    tracks = [make_track(rng, 3.0, side, m, level=0.8) for side, m in ((-1, "wood"), (1, "gravel"))]
    plain = render_steps(np.random.default_rng(1), tracks, 48000, 16000)
    render = SpatialRender(48000, 16000)
    watched = render_steps(np.random.default_rng(1), tracks, 48000, 16000, on_step=render.add)
    assert np.array_equal(plain, watched) and np.abs(render.foa).max() > 0
    scene = generate_scene(seed, sample_rate=16000)
    assert scene.binaural.shape == (2, 96000) and scene.foa.shape == (4, 96000)
    assert scene.binaural.dtype == np.float32 and scene.foa.dtype == np.float32


def test_renders_follow_the_stereo_sources():
    scene = generate_scene(9, duration=2.0, sample_rate=16000)
    # the W channel is the unpanned sum of the sources: its step energy equals the stereo's (L² + R² = 1)
    steps = slice(0, scene.audio.shape[-1])
    stereo_power = (scene.audio[:, steps].astype(np.float64) ** 2).sum()
    w_power = (scene.foa[0, steps].astype(np.float64) ** 2).sum()
    assert w_power == pytest.approx(stereo_power, rel=0.05)
    assert np.isfinite(scene.binaural).all() and np.abs(scene.binaural).max() > 0


def test_on_step_draws_nothing_from_the_generator():
    tracks_rng = [np.random.default_rng(5), np.random.default_rng(5)]
    track = make_track(np.random.default_rng(1), 2.0, 1, "wood", 1.0)
    plain = render_steps(tracks_rng[0], [track], 32000, 16000)
    spatial = SpatialRender(32000, 16000)
    hooked = render_steps(tracks_rng[1], [track], 32000, 16000, on_step=spatial.add)
    np.testing.assert_array_equal(plain, hooked)
    assert tracks_rng[0].random() == tracks_rng[1].random()
    assert np.abs(spatial.binaural).max() > 0 and np.abs(spatial.foa).max() > 0


def test_samples_carry_valid_binaural_and_foa():
    scene = generate_scene(3, duration=4.0, sample_rate=16000)
    samples = scene_to_samples(scene)
    assert len(samples) == 2
    for s in samples:
        assert s["binaural"].shape == (2, 32000) and s["foa"].shape == (4, 32000)
        schema.validate(s)
    np.testing.assert_array_equal(samples[1]["foa"], scene.foa[:, 32000:])
