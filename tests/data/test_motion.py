"""Visual timing features: one function for generator frames and decoded mp4s; schema version 2 and 1."""

from __future__ import annotations

import numpy as np
import pytest

from stereosync.data.schema import AUDIO_DERIVED, SchemaError, make_meta, validate
from stereosync.data.synthetic import generate_scene, scene_to_samples, write_mp4
from stereosync.motion import feature_names, motion_features, num_features

SR = 16000


@pytest.fixture(scope="module")
def scene():
    return generate_scene(seed=7, duration=4.0, sample_rate=SR)


def test_features_from_an_mp4_match_the_generators_frames_within_codec_noise(scene, tmp_path):
    from stereosync.extract.decode import DecodeConfig, DecodeReport, iter_chunks

    clean = np.concatenate([s["motion"] for s in scene_to_samples(scene)])
    mp4 = write_mp4(scene, tmp_path / "scene.mp4")
    rows = []
    for c in iter_chunks(mp4, DecodeConfig(sample_rate=SR), DecodeReport()):
        b, m = scene.boxes[c.index * 60 : (c.index + 1) * 60], scene.box_mask[c.index * 60 : (c.index + 1) * 60]
        rows.append(motion_features(c.box_frames, b, m, previous=c.previous_box_frame))
    decoded = np.concatenate(rows)
    assert decoded.shape == clean.shape == (120, num_features(2))
    names = feature_names(2)
    for j in range(clean.shape[1]):
        if names[j].endswith(".flow_y") or clean[:, j].std() == 0:
            continue  # signed vertical flow is near zero on average: compared by the magnitudes instead
        r = np.corrcoef(clean[:, j], decoded[:, j])[0, 1]
        assert r > 0.9, (names[j], r)
    box = names.index("box0_bottom.diff")
    assert np.abs(clean[:, box] - decoded[:, box]).mean() < 0.25 * np.abs(clean[:, box]).mean()


def test_feet_landing_show_in_the_bottom_of_the_box(scene):
    motion = np.concatenate([s["motion"] for s in scene_to_samples(scene)])
    col = feature_names(2).index("box0_bottom.diff")
    steps = [t for t, k in zip(scene.step_times, scene.step_character) if k == 0 and 0.1 < t < 3.9]
    at_step = np.mean([motion[int(round(t * 30)) : int(round(t * 30)) + 2, col].max() for t in steps])
    assert at_step > 2 * np.median(motion[:, col])


def test_the_first_row_without_a_previous_frame_is_zero_and_shapes_are_checked(scene):
    m = motion_features(scene.frames[:5], scene.boxes[:5], scene.box_mask[:5])
    assert m.shape == (5, 21) and not m[0].any() and m[1:].any()
    with pytest.raises(ValueError, match="boxes"):
        motion_features(scene.frames[:5], scene.boxes[:4], scene.box_mask[:4])


def test_schema_v2_has_motion_and_silent_samples_and_v1_still_validates(scene):
    sample = scene_to_samples(scene)[0]
    assert sample["json"]["schema_version"] >= 2 and sample["motion"].shape == (60, 21)
    validate(sample)
    v1 = {k: v for k, v in sample.items() if k != "motion"}
    v1["json"] = dict(sample["json"], schema_version=1)
    validate(v1)
    silent = {k: v for k, v in sample.items() if k not in AUDIO_DERIVED}  # binaural and foa too (version 3)
    silent["json"] = dict(sample["json"], has_audio=False)
    validate(silent)
    with pytest.raises(SchemaError, match="has_audio: false but the sample carries"):
        validate(dict(silent, clap=sample["clap"]))
    with pytest.raises(SchemaError, match="clap"):
        validate({k: v for k, v in sample.items() if k != "clap"})
    with pytest.raises(SchemaError, match="schema_version 99"):
        validate(dict(sample, json=make_meta("x", 0.0, sample_rate=SR) | {"schema_version": 99}))
