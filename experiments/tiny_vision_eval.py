"""Held-out accuracy of the tiny synthetic-domain detector and depth model (docs/tiny_vision.md).

Scenes come from the ``tiny-vision-heldout`` seed stream (never used for training), are written as mp4s and
decoded by the extraction's decoder, exactly as ``stereosync-extract`` sees them. Measured:

* detector: mAP@0.5 over every 30-fps frame (VOC all-point AP, one class), and the IoU of each true box with
  its best detection above ByteTrack's activation score;
* tracking: the extraction's ByteTrack on the tiny detector, K = 2 tracks kept per 2-s chunk, slots matched
  to true characters per chunk (Hungarian on mean IoU); track IoU = mean IoU over the frames where the
  character exists (a masked slot counts 0);
* depth: mean absolute error of the nearness maps (in [0, 1]) over all pixels and over the pixels of the
  characters, beside the error of the empty room's map (what a model blind to the characters would score).

Command (2-core CPU, 1-2 threads, ~2 min)::

    python experiments/tiny_vision_eval.py --scenes 24 --out experiments/results/tiny_vision_eval.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from stereosync.data.render import depth_background
from stereosync.extract.tiny_data import frame_seeds, labelled_videos
from stereosync.extract.tiny_depth import TINY_DEPTH, TinyDepth
from stereosync.extract.tiny_detector import TINY_DETECTOR, TinyDetector
from stereosync.extract.tracking import ByteTrackTracker, select_tracks


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (n, 4) with every box of ``b`` (m, 4), xyxy."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def average_precision(dets: list[tuple[np.ndarray, np.ndarray]], gts: list[np.ndarray], thr: float = 0.5) -> float:
    """VOC all-point AP: per frame (boxes, scores) detections against true boxes, greedy matching by score."""
    records, n_gt = [], sum(len(g) for g in gts)
    for (boxes, scores), gt in zip(dets, gts):
        taken = np.zeros(len(gt), bool)
        ious = iou_matrix(boxes, gt) if len(gt) else np.zeros((len(boxes), 0))
        for i in np.argsort(-scores):
            j = int(np.argmax(ious[i])) if len(gt) else -1
            hit = j >= 0 and ious[i, j] >= thr and not taken[j]
            if hit:
                taken[j] = True
            records.append((float(scores[i]), hit))
    if not records or n_gt == 0:
        return 0.0
    records.sort(key=lambda r: -r[0])
    tp = np.cumsum([r[1] for r in records])
    precision = tp / np.arange(1, len(records) + 1)
    recall = tp / n_gt
    prec = np.concatenate([[0.0], precision, [0.0]])
    rec = np.concatenate([[0.0], recall, [recall[-1]]])
    prec = np.maximum.accumulate(prec[::-1])[::-1]
    return float(np.sum((rec[1:] - rec[:-1]) * prec[1:]))


def detector_scores(detector: TinyDetector, videos, activation: float) -> dict:
    """mAP@0.5 and best-detection IoU of true boxes on every frame of the videos."""
    dets, gts, best = [], [], []
    for v in videos:
        h, w = v.box_frames.shape[1:3]
        scale = np.array([w, h, w, h], np.float32)
        for det, boxes, mask in zip(detector(v.box_frames, v.box_times), v.boxes, v.box_mask):
            gt = boxes[mask] * scale
            dets.append((det.xyxy, det.confidence))
            gts.append(gt)
            strong = det.xyxy[det.confidence >= activation]
            ious = iou_matrix(gt, strong) if len(strong) else np.zeros((len(gt), 1))
            best.extend(ious.max(axis=1))
    best = np.asarray(best)
    return {
        "frames": len(gts),
        "true_boxes": int(sum(len(g) for g in gts)),
        "map50": round(average_precision(dets, gts, 0.5), 4),
        "map75": round(average_precision(dets, gts, 0.75), 4),
        "box_iou_mean": round(float(best.mean()), 4),
        "box_iou_ge_0.7": round(float((best >= 0.7).mean()), 4),
    }


def track_scores(detector: TinyDetector, videos, k: int = 2, chunk_frames: int = 60) -> dict:
    """Track IoU of ByteTrack on the detector, K tracks per chunk matched to the true characters."""
    from scipy.optimize import linear_sum_assignment

    per_frame = []
    for v in videos:
        tracker = ByteTrackTracker(detector)
        tracks = tracker.update(v.box_frames, v.box_times)
        for c0 in range(0, len(tracks) - chunk_frames + 1, chunk_frames):
            boxes, mask = select_tracks(tracks[c0 : c0 + chunk_frames], k)  # (F, K, 4), (F, K)
            gt, gt_mask = v.boxes[c0 : c0 + chunk_frames], v.box_mask[c0 : c0 + chunk_frames]
            chars = [c for c in range(gt.shape[1]) if gt_mask[:, c].any()]
            iou = np.zeros((len(chars), k, chunk_frames))
            for a, c in enumerate(chars):
                for s in range(k):
                    iou[a, s] = [iou_matrix(gt[f, c], boxes[f, s])[0, 0] if mask[f, s] else 0.0 for f in range(len(gt))]
            rows, cols = linear_sum_assignment(-(iou * gt_mask[:, chars].T[:, None]).sum(-1))
            for a, s in zip(rows, cols):
                per_frame.extend(iou[a, s][gt_mask[:, chars[a]]])
    per_frame = np.asarray(per_frame)
    return {"track_iou_mean": round(float(per_frame.mean()), 4), "track_frames": len(per_frame)}


def depth_scores(depth: TinyDepth, videos) -> dict:
    """Mean absolute nearness error over all pixels and over the characters' pixels, and the empty-room baseline."""
    pred = torch.cat([depth(v.depth_frames) for v in videos]).numpy()
    gt = np.concatenate([v.depth for v in videos])
    room = depth_background(*gt.shape[1:])[None]
    chars = np.abs(gt - room) > 1e-6
    err = np.abs(pred - gt)
    per_frame = err.mean(axis=(1, 2))
    return {
        "frames": len(gt),
        "mae": round(float(err.mean()), 4),
        "mae_p95_frame": round(float(np.quantile(per_frame, 0.95)), 4),
        "mae_characters": round(float(err[chars].mean()), 4),
        "room_only_mae": round(float(np.abs(room - gt).mean()), 4),
        "room_only_mae_characters": round(float(np.abs(room - gt)[chars].mean()), 4),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenes", type=int, default=24, help="held-out scenes (6 s each)")
    p.add_argument("--detector", default=TINY_DETECTOR)
    p.add_argument("--depth", default=TINY_DEPTH)
    p.add_argument("--activation", type=float, default=0.25, help="score a detection needs to count for box IoU")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="also write the json here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    videos = labelled_videos(frame_seeds("tiny-vision-heldout", args.scenes))
    detector = TinyDetector.from_file(args.detector, threshold=0.01)
    result = {
        "setting": f"{args.scenes} held-out synthetic scenes (seed stream tiny-vision-heldout), mp4 round trip, "
        f"CPU, {args.threads} threads",
        "command": "python experiments/tiny_vision_eval.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "detector": detector_scores(detector, videos, args.activation),
    }
    detector.threshold = 0.1  # the extraction's default detector threshold for ByteTrack
    result["tracking"] = track_scores(detector, videos)
    result["depth"] = depth_scores(TinyDepth.from_file(args.depth), videos)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
