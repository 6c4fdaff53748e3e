"""The ``events`` member: written by the synthetic generator, moved by a crop, padded by the collation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import good_sample

from stereosync.data import pipeline, schema, transforms
from stereosync.data.synthetic import generate_scene, scene_to_samples


@pytest.fixture(scope="module")
def scene_and_samples():
    scene = generate_scene(7, duration=4.0, sample_rate=16000)
    return scene, scene_to_samples(scene, chunk_seconds=2.0)


def test_events_are_the_scene_steps_of_each_chunk(scene_and_samples) -> None:
    scene, samples = scene_and_samples
    assert len(scene.step_times) > 0
    times, chars = [], []
    for i, sample in enumerate(samples):
        ev = sample["events"]
        assert ev.dtype == np.float32 and ev.ndim == 2 and ev.shape[1] == 2
        assert ((ev[:, 0] >= 0) & (ev[:, 0] < 2.0)).all()
        schema.validate(sample)
        times += list(ev[:, 0] + 2.0 * i)
        chars += list(ev[:, 1])
    in_scene = scene.step_times < 4.0
    np.testing.assert_allclose(times, scene.step_times[in_scene], atol=1e-5)
    np.testing.assert_array_equal(chars, scene.step_character[in_scene])


def test_a_chunk_without_steps_has_an_empty_events_member() -> None:
    scene = generate_scene(3, duration=2.0, sample_rate=16000)
    scene.step_times, scene.step_character = np.zeros(0), np.zeros(0, np.int64)
    (sample,) = scene_to_samples(scene)
    assert sample["events"].shape == (0, 2)
    schema.validate(sample)


def test_crop_keeps_the_events_inside_and_moves_them_with_the_start() -> None:
    sample = good_sample()  # 2 s chunk, 30-fps boxes and 4-fps depth: crops start on a 0.5-s grid
    sample["events"] = np.array([[0.1, 0], [0.6, 1], [1.2, 0], [1.9, 1]], np.float32)
    out = transforms.crop(sample, 1.0, np.random.default_rng(0))
    start = out["json"]["start"]
    want = np.array([[t - start, k] for t, k in sample["events"] if start <= t < start + 1.0], np.float32)
    np.testing.assert_allclose(out["events"], want.reshape(-1, 2), atol=1e-6)


def test_collate_pads_events_and_marks_samples_without_the_member() -> None:
    a, b, c = good_sample("a"), good_sample("b"), good_sample("c")
    a["events"] = np.array([[0.25, 0], [1.5, 1], [1.75, 0]], np.float32)
    b["events"] = np.zeros((0, 2), np.float32)  # a chunk with no footstep: ground truth says "none"
    batch = pipeline.collate([a, b, c], {})  # c: an older shard without the member
    assert batch["events"].shape == (3, 3, 2) and batch["events_mask"].shape == (3, 3)
    torch.testing.assert_close(batch["events"][0], torch.from_numpy(a["events"]))
    assert batch["events_mask"].tolist() == [[True] * 3, [False] * 3, [False] * 3]
    assert batch["has_events"].tolist() == [True, True, False]
    assert batch["audio"].shape[0] == 3


def test_collate_of_old_samples_adds_no_event_keys() -> None:
    batch = pipeline.collate([good_sample("a"), good_sample("b")], {})
    assert "events" not in batch and "events_mask" not in batch and "has_events" not in batch
