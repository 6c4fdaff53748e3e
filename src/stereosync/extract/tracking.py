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
from stereosync.extract.shot_cuts import ShotCuts

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

    Three options use that extraction is offline (all off by default; the ``people`` preset sets them):

    * ``cuts``: a shot cut detector (:class:`~stereosync.extract.shot_cuts.ShotCuts`); at each cut ByteTrack
      starts afresh, so no track crosses a cut (ids keep growing across cuts).
    * ``backfill``: a track reported for the first time also reports up to ``backfill`` frames before, with
      the detections it was built from: ByteTrack hands out ids only to confirmed tracks, so those are found
      again by chaining back from the track's first box, on each earlier frame the detection ByteTrack could
      have matched (IoU >= 0.5 with the box after it, as its association of low-score boxes; or a score above
      the activation threshold with IoU x score >= 0.3, as its test for tentative tracks). The chain stops
      at the first frame without one, at a cut and at the first frame of the :meth:`track` call (frames
      returned by an earlier call are not changed).
    * ``confirm_score``: a track is reported only once one of its detections (backfilled ones included)
      scored at least this; its frames before that in the same call are then reported too. With an
      activation threshold below ``confirm_score - 0.1``, tracks start from weaker detections than they
      need to count.

    Args:
        detector: per-frame detections (pixels) of the chosen classes; None for a tracker fed through
            :meth:`track` only.
        frame_rate: rate of the frames given (the 30-fps box grid).
        track_activation_threshold: score above which a detection may start a track.
        lost_track_buffer: frames (at 30 fps) a lost track is kept for re-identification.
        minimum_matching_threshold: IoU-cost threshold for matching detections to tracks.
        minimum_consecutive_frames: frames a track needs before it is reported.
        cuts: shot cut detector, or None (one shot).
        backfill: frames a new track may report back (0: none).
        confirm_score: score one of a track's detections must reach before it is reported (None: no such bar).
    """

    def __init__(
        self,
        detector: Detector | None,
        frame_rate: float = 30.0,
        track_activation_threshold: float = 0.25,
        lost_track_buffer: int = 30,
        minimum_matching_threshold: float = 0.8,
        minimum_consecutive_frames: int = 1,
        cuts: ShotCuts | None = None,
        backfill: int = 0,
        confirm_score: float | None = None,
    ):
        self.sv = require("supervision", "pip install 'stereosync[extract]' (supervision)")
        if isinstance(backfill, bool) or not (isinstance(backfill, int) and backfill >= 0):
            raise ValueError(f"track_backfill must be a number of frames >= 0, got {backfill!r}")
        if confirm_score is not None and not 0 < confirm_score <= 1:
            raise ValueError(
                f"track_confirm_score must be in (0, 1] (a detection score) or None, got {confirm_score!r}"
            )
        self.detector, self.cuts, self.backfill, self.confirm_score = detector, cuts, backfill, confirm_score
        self.kwargs = dict(
            track_activation_threshold=track_activation_threshold,
            lost_track_buffer=lost_track_buffer,
            minimum_matching_threshold=minimum_matching_threshold,
            frame_rate=int(round(frame_rate)),
            minimum_consecutive_frames=minimum_consecutive_frames,
        )
        options = (
            "+cuts" * (cuts is not None)
            + f"+backfill{backfill}" * (backfill > 0)
            + f"+confirm{confirm_score}" * (confirm_score is not None)
        )
        self.name = f"{getattr(detector, 'name', type(detector).__name__)}+bytetrack{options}"
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (a new video); ids restart."""
        self.tracker = self.sv.ByteTrack(**self.kwargs)
        self._offset = 0  # ids handed out before the last cut
        self._seen: set[int] = set()  # ids ByteTrack has reported
        self._strong: set[int] = set()  # ids reported here (confirmed by a strong score)
        if self.cuts is not None:
            self.cuts.reset()

    def update(self, frames: np.ndarray, times: np.ndarray) -> list[TrackFrame]:
        """Detect and track B consecutive frames (B, H, W, 3); returns B ``{track id: normalised box}``."""
        detections = self.detector(frames, np.asarray(times))
        cuts = self.cuts(frames) if self.cuts is not None else None
        return self.track(detections, frames.shape[1:3], cuts)

    def track(self, detections: Sequence, size: tuple[int, int], cuts: np.ndarray | None = None) -> list[TrackFrame]:
        """Track B consecutive frames' ``supervision.Detections`` (pixels of frames of ``size`` (H, W));
        ``cuts`` (B,) bool marks the frames that start a new shot."""
        h, w = size
        scale = np.array([w, h, w, h], np.float32)
        out: list[TrackFrame] = []
        held: dict[int, list[tuple]] = {}  # (frame, box, score) of tracks no detection of which reached confirm_score
        shot_start = 0
        for i, det in enumerate(detections):
            if cuts is not None and cuts[i]:
                self._offset = max(self._seen, default=self._offset)
                self.tracker = self.sv.ByteTrack(**self.kwargs)
                shot_start = i
            tracked = self.tracker.update_with_detections(det)
            out.append({})
            if tracked.tracker_id is None:
                continue
            for t, box, score in zip(tracked.tracker_id, tracked.xyxy, tracked.confidence):
                tid = self._offset + int(t)
                boxes = [(i, box, score)]
                if self.backfill and tid not in self._seen:
                    boxes = self._chain(box, detections, max(shot_start, i - self.backfill), i - 1) + boxes
                self._seen.add(tid)
                if self.confirm_score is None or max(b[2] for b in boxes) >= self.confirm_score:
                    self._strong.add(tid)
                if tid in self._strong:
                    for j, b, _ in held.pop(tid, []) + boxes:
                        out[j].setdefault(tid, np.clip(b / scale, 0, 1).astype(np.float32))
                else:
                    held.setdefault(tid, []).extend(boxes)
        return out

    def _chain(self, box: np.ndarray, detections: Sequence, first: int, last: int) -> list[tuple]:
        """The detections (frame, box, score) a track took from frame ``first`` to ``last``, chained back to ``box``."""
        from stereosync.extract.footage_eval import box_iou  # footage_eval imports this module

        activation, found = self.kwargs["track_activation_threshold"], []
        for j in range(last, first - 1, -1):
            det = detections[j]
            if len(det) == 0:
                break
            iou = box_iou(box, det.xyxy)
            fit = np.where(iou >= 0.5, 1 + iou, np.where(det.confidence > activation, iou * det.confidence, 0))
            k = int(np.argmax(fit))
            if fit[k] < 0.3:
                break
            box = det.xyxy[k]
            found.append((j, box, det.confidence[k]))
        return found[::-1]


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
