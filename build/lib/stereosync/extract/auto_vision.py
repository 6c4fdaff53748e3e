"""The ``auto`` preset: per video, the synthetic-domain models or the real-footage (people) models.

Rule: on the first frames a video sends through the tracker (its first group of chunks), the tiny
synthetic-domain detector — trained with real negatives, so it stays silent off its domain — looks at a few
evenly spaced frames. If it finds a box scoring at least ``min_score`` on at least ``min_share`` of them, the
video is a synthetic scene and gets the tiny detector and tiny depth model; otherwise it gets the people
preset (OpenCV's HOG pedestrian detector, depth maps drawn from the tracked boxes). The choice holds for the
whole video and is made again after ``reset()`` (a new video).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

AUTO = "auto"


def tiny_finds_characters(
    detector, frames: np.ndarray, times: np.ndarray, samples: int = 6, min_score: float = 0.5, min_share: float = 0.5
) -> bool:
    """Whether the tiny detector finds a confident box on at least ``min_share`` of ``samples`` frames.

    Args:
        detector: a :class:`~stereosync.extract.tiny_detector.TinyDetector`.
        frames: (N, H, W, 3) uint8 frames of the video's start.
        times: (N,) s.
        samples: frames looked at, evenly spaced.
        min_score: score a box needs to count.
        min_share: share of the looked-at frames that need one.
    """
    idx = np.unique(np.linspace(0, len(frames) - 1, min(samples, len(frames))).round().astype(int))
    found = [bool(len(d) and d.confidence.max() >= min_score) for d in detector(frames[idx], times[idx])]
    return float(np.mean(found)) >= min_share if found else False


class AutoChoice:
    """Which models serve the current video (``tiny`` or ``people``; None before its first frames)."""

    def __init__(self, probe, **rule):
        self.probe, self.rule, self.chosen = probe, rule, None

    def decide(self, frames: np.ndarray, times: np.ndarray) -> str:
        if self.chosen is None:
            self.chosen = (
                "tiny" if tiny_finds_characters(self.probe, frames, np.asarray(times), **self.rule) else "people"
            )
            log.info("auto preset: %s models for this video", self.chosen)
        return self.chosen


class AutoTracker:
    """A :class:`~stereosync.extract.tracking.BoxTracker` that hands each video to the tracker of its choice.

    Args:
        choice: the shared per-video choice.
        trackers: ``{"tiny": tracker, "people": tracker}``.
    """

    def __init__(self, choice: AutoChoice, trackers: dict):
        self.choice, self.trackers = choice, trackers
        self.name = "auto(" + "|".join(f"{k}:{t.name}" for k, t in trackers.items()) + ")"

    def reset(self) -> None:
        self.choice.chosen = None
        for t in self.trackers.values():
            t.reset()

    def update(self, frames: np.ndarray, times: np.ndarray) -> list:
        return self.trackers[self.choice.decide(frames, times)].update(frames, times)


class AutoDepth:
    """A depth backend that follows the same choice (``{"tiny": TinyDepth, "people": BoxDepth}``)."""

    def __init__(self, choice: AutoChoice, backends: dict):
        self.choice, self.backends = choice, backends
        self.name = "auto(" + "|".join(f"{k}:{b.name}" for k, b in backends.items()) + ")"

    @property
    def _current(self):
        return self.backends[self.choice.chosen or "people"]

    @property
    def needs_boxes(self) -> bool:
        return bool(getattr(self._current, "needs_boxes", False))

    def __call__(self, frames: np.ndarray):
        return self._current(frames)

    def from_boxes(self, boxes: np.ndarray, mask: np.ndarray, depth_frames: int) -> np.ndarray:
        return self._current.from_boxes(boxes, mask, depth_frames)
