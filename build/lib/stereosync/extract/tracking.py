"""Tracked boxes: detector + ByteTrack (``supervision``), and the choice of the K tracks to keep.

A tracker turns per-frame detections into identities across the whole video; a chunk then keeps its K
longest tracks (most frames present in the chunk). Boxes are normalised to [0, 1] by the frame size;
a frame where a kept track has no box is masked, never filled with a made-up box (docs/design.md#streams).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from stereosync.extract._torch import require
from stereosync.extract.detector import Detector

TrackFrame = dict[int, np.ndarray]  # track id -> [x0, y0, x1, y1] normalised to [0, 1]


class BoxTracker(Protocol):
    """Frames of one video in time order -> per frame, the boxes of the tracks seen in it.

    ``reset()`` starts a new video; ``update(frames (B, H, W, 3) uint8, times (B,) s)`` returns B
    :data:`TrackFrame` dicts.
    """

    name: str

    def reset(self) -> None: ...

    def update(self, frames: np.ndarray, times: np.ndarray) -> list[TrackFrame]: ...


class ByteTrackTracker:
    """A detector followed by ByteTrack (Zhang et al. 2022) from ``supervision``.

    Args:
        detector: per-frame detections (pixels) of the chosen classes.
        frame_rate: rate of the frames given (the 30-fps box grid).
        track_activation_threshold: score above which a detection may start a track.
        lost_track_buffer: frames (at 30 fps) a lost track is kept for re-identification.
        minimum_matching_threshold: IoU-cost threshold for matching detections to tracks.
        minimum_consecutive_frames: frames a track needs before it is reported.
    """

    def __init__(
        self,
        detector: Detector,
        frame_rate: float = 30.0,
        track_activation_threshold: float = 0.25,
        lost_track_buffer: int = 30,
        minimum_matching_threshold: float = 0.8,
        minimum_consecutive_frames: int = 1,
    ):
        self.sv = require("supervision", "pip install 'stereosync[extract]' (supervision)")
        self.detector = detector
        self.kwargs = dict(
            track_activation_threshold=track_activation_threshold,
            lost_track_buffer=lost_track_buffer,
            minimum_matching_threshold=minimum_matching_threshold,
            frame_rate=int(round(frame_rate)),
            minimum_consecutive_frames=minimum_consecutive_frames,
        )
        self.name = f"{getattr(detector, 'name', type(detector).__name__)}+bytetrack"
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (a new video); ids restart."""
        self.tracker = self.sv.ByteTrack(**self.kwargs)

    def update(self, frames: np.ndarray, times: np.ndarray) -> list[TrackFrame]:
        """Detect and track B consecutive frames (B, H, W, 3); returns B ``{track id: normalised box}``."""
        h, w = frames.shape[1:3]
        scale = np.array([w, h, w, h], np.float32)
        out = []
        for det in self.detector(frames, np.asarray(times)):
            tracked = self.tracker.update_with_detections(det)
            ids = tracked.tracker_id if tracked.tracker_id is not None else []
            out.append({int(t): np.clip(box / scale, 0, 1).astype(np.float32) for t, box in zip(ids, tracked.xyxy)})
        return out


def select_tracks(frames: Sequence[TrackFrame], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the K tracks present in the most frames (ties: earliest first seen, then lowest id).

    Args:
        frames: F per-frame ``{track id: box}`` of one chunk.
        k: slots K; slot 0 is the longest track.

    Returns:
        boxes (F, K, 4) float32 normalised to [0, 1] (zeros where masked) and box_mask (F, K) bool.
    """
    count: dict[int, int] = {}
    first: dict[int, int] = {}
    for i, frame in enumerate(frames):
        for tid in frame:
            count[tid] = count.get(tid, 0) + 1
            first.setdefault(tid, i)
    chosen = sorted(count, key=lambda t: (-count[t], first[t], t))[:k]
    boxes = np.zeros((len(frames), k, 4), np.float32)
    mask = np.zeros((len(frames), k), bool)
    for slot, tid in enumerate(chosen):
        for i, frame in enumerate(frames):
            if tid in frame:
                boxes[i, slot], mask[i, slot] = frame[tid], True
    return boxes, mask
