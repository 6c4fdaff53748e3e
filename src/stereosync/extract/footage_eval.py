"""Scoring tracked person boxes against hand-checked boxes on real clips (``tests/data/real_footage_boxes.json``).

A clip is decoded by the extraction's decoder (2-s chunks, 30-fps box grid) and tracked as an extraction
tracks it: one tracker over the whole clip, the K longest tracks kept per chunk (:func:`.tracking.select_tracks`).
An annotated source frame is scored on the box-grid frame nearest in time. Matching is greedy by IoU at 0.5;
a tracked box inside an ``ignore`` region (half or more of its area) or shorter than ``MIN_HEIGHT`` of the
frame counts neither way; recall counts at most K people per frame (what K tracks can hold).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stereosync.extract.tracking import select_tracks

ANNOTATIONS = Path(__file__).resolve().parents[3] / "tests" / "data" / "real_footage_boxes.json"
MIN_HEIGHT = 1 / 6  # annotated people are at least 1/5 of the frame tall; smaller boxes are not scored


@dataclass
class Tracked:
    """Tracked boxes of one clip on the 30-fps box grid: times (F,) s, boxes (F, K, 4) normalised, mask (F, K)."""

    times: np.ndarray
    boxes: np.ndarray
    mask: np.ndarray
    seconds: float = 0.0


def load_annotations(path: str | Path = ANNOTATIONS) -> dict:
    """The annotation file: ``{"clips": {name: {"fps", ...}}, "frames": [{"clip", "frame", "boxes", "ignore"}]}``."""
    return json.loads(Path(path).read_text())


def track_clip(path: str | Path, tracker, k: int = 2, chunk_seconds: float = 2.0) -> Tracked:
    """Decode a (silent or not) clip and track it as an extraction does; K tracks kept per chunk."""
    import time

    from stereosync.extract.decode import DecodeConfig, DecodeReport, iter_chunks

    t0 = time.perf_counter()
    tracker.reset()
    times, boxes, masks = [], [], []
    cfg = DecodeConfig(sample_rate=16000, chunk_seconds=chunk_seconds, allow_silent=True)
    for chunk in iter_chunks(path, cfg, DecodeReport()):
        frames = tracker.update(chunk.box_frames, chunk.box_times)
        b, m = select_tracks(frames, k)
        times.append(chunk.box_times)
        boxes.append(b)
        masks.append(m)
    return Tracked(np.concatenate(times), np.concatenate(boxes), np.concatenate(masks), time.perf_counter() - t0)


def empty_frames(frames: np.ndarray, ranges) -> np.ndarray:
    """Which of ``frames`` (source frame numbers, may be fractional) lie in a stretch ``[a, b)`` with no one in
    it (to half a frame before ``b``: the box-grid frame there may already show the next source frame)."""
    frames = np.asarray(frames, np.float64)
    out = np.zeros(len(frames), bool)
    for a, b in ranges:
        out |= (frames >= a) & (frames < b - 0.5)
    return out


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of ``box`` (4,) with each of ``boxes`` (n, 4), xyxy."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    w = np.clip(np.minimum(box[2], b[:, 2]) - np.maximum(box[0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], b[:, 3]) - np.maximum(box[1], b[:, 1]), 0, None)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return w * h / np.maximum((box[2] - box[0]) * (box[3] - box[1]) + area - w * h, 1e-12)


def _ioa(box: np.ndarray, region: np.ndarray) -> float:
    """Share of ``box``'s area inside ``region`` (both xyxy)."""
    w = max(0.0, min(box[2], region[2]) - max(box[0], region[0]))
    h = max(0.0, min(box[3], region[3]) - max(box[1], region[1]))
    return w * h / max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)


def match_frame(pred: np.ndarray, truth: np.ndarray, ignore: np.ndarray, k: int, thr: float = 0.5) -> tuple:
    """(true positives, false positives, people a K-track output could hold) for one frame.

    Args:
        pred: (n, 4) tracked boxes, normalised xyxy.
        truth: (m, 4) hand-checked boxes.
        ignore: (r, 4) don't-care regions.
        k: tracks per chunk.
        thr: IoU a match needs.
    """
    pred = [p for p in np.asarray(pred).reshape(-1, 4) if p[3] - p[1] >= MIN_HEIGHT]
    truth = np.asarray(truth, np.float64).reshape(-1, 4)
    taken, tp, fp = np.zeros(len(truth), bool), 0, 0
    for p in pred:
        ious = box_iou(p, truth) if len(truth) else np.zeros(0)
        j = int(np.argmax(np.where(taken, -1, ious))) if len(truth) else -1
        if j >= 0 and not taken[j] and ious[j] >= thr:
            taken[j], tp = True, tp + 1
        elif not any(_ioa(p, r) >= 0.5 for r in np.asarray(ignore).reshape(-1, 4)):
            fp += 1
    return tp, fp, min(len(truth), k)


def score_clip(tracked: Tracked, frames: list[dict], fps: float, k: int = 2) -> dict:
    """Precision / recall at IoU 0.5 of a clip's tracked boxes on its annotated frames, and negatives' boxes."""
    tp = fp = held = 0
    empty, empty_with_boxes = 0, 0
    for f in frames:
        i = int(np.argmin(np.abs(tracked.times - f["frame"] / fps)))
        pred = tracked.boxes[i][tracked.mask[i]]
        a, b, c = match_frame(pred, f["boxes"], f.get("ignore", []), k)
        tp, fp, held = tp + a, fp + b, held + c
        if not f["boxes"]:
            empty += 1
            empty_with_boxes += int(b > 0)
    return {
        "frames": len(frames),
        "people": held,
        "tp": tp,
        "fp": fp,
        "precision": round(tp / max(tp + fp, 1), 3),
        "recall": round(tp / max(held, 1), 3),
        "empty_frames": empty,
        "empty_frames_with_boxes": empty_with_boxes,
    }
