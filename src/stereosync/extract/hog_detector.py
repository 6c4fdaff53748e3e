"""Pedestrian detector that needs no download: OpenCV's HOG + linear SVM people detector (Dalal & Triggs 2005).

``cv2.HOGDescriptor_getDefaultPeopleDetector()`` ships inside OpenCV, so real footage gets person boxes
offline. It is slow on a CPU (about 0.2 s per 640 x 272 frame upscaled 1.5x), so :class:`HogPeopleDetector`
runs it a few times per second of video and holds each result on the 30-fps frames in between; ByteTrack
then tracks those boxes on the 30-fps grid as it tracks any detector's. It finds upright, mostly whole
people at least ~85 px tall after upscaling; close-ups (a head and shoulders, legs only) are out of its reach.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from stereosync.extract._torch import require

HOG_DETECTOR = "opencv-hog-people"


def svm_confidence(weights: np.ndarray) -> np.ndarray:
    """SVM margins (n,) -> scores in [0, 1): ``w / (1 + w)``, so margin 1 (a clear person) scores 0.5."""
    w = np.clip(np.asarray(weights, np.float32).reshape(-1), 0, None)
    return w / (1 + w)


def tighten(boxes: np.ndarray) -> np.ndarray:
    """HOG windows (n, 4) xyxy -> person boxes: the central 60 % of the window's width and 80 % of its height.

    The detector's 64 x 128 training windows hold a ~96 px tall person with a margin all round (INRIA
    crops); these shares fitted the hand-checked boxes of ``tests/data/real_footage_boxes.json`` best.
    """
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return np.stack([b[:, 0] + 0.2 * w, b[:, 1] + 0.1 * h, b[:, 2] - 0.2 * w, b[:, 3] - 0.1 * h], axis=1)


@functools.cache
def _hog():
    cv2 = require("cv2", "pip install opencv-python-headless")
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


def hog_windows(frame: np.ndarray, upscale: float = 1.5, hit_threshold: float = -0.5) -> tuple[np.ndarray, np.ndarray]:
    """One RGB frame -> every HOG window scoring at least ``hit_threshold`` before grouping: (n, 4) xywh in the
    upscaled frame's pixels (int) and SVM margins (n,). :func:`group_windows` turns them into what
    :func:`hog_people` returns, so a clip's windows can be stored once and re-scored under other settings."""
    cv2 = require("cv2", "pip install opencv-python-headless")
    img = np.ascontiguousarray(frame[..., ::-1])
    if upscale != 1.0:
        img = cv2.resize(img, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
    rects, weights = _hog().detectMultiScale(
        img, hitThreshold=hit_threshold, winStride=(8, 8), padding=(16, 16), groupThreshold=0
    )
    return np.asarray(rects, np.int32).reshape(-1, 4), np.asarray(weights, np.float32).reshape(-1)


def group_windows(
    rects: np.ndarray, margins: np.ndarray, group_threshold: int = 2, eps: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's grouping of HOG windows (``HOGDescriptor::groupRectangles``) in numpy.

    Windows whose corners all lie within ``eps`` x their mean size of each other join one cluster
    (transitively); a cluster of more than ``group_threshold`` windows gives its mean rectangle with the
    largest margin of its windows, unless it lies inside a larger cluster's rectangle. Returns (m, 4) xywh
    and (m,) margins, in the order of OpenCV's clusters.
    """
    r = np.asarray(rects, np.float64).reshape(-1, 4)
    w = np.asarray(margins, np.float64).reshape(-1)
    if len(r) == 0 or group_threshold <= 0:
        return r, w
    x0, y0, x1, y1 = r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]
    delta = eps * (np.minimum(r[:, None, 2], r[None, :, 2]) + np.minimum(r[:, None, 3], r[None, :, 3])) * 0.5
    near = np.ones(delta.shape, bool)
    for c in (x0, y0, x1, y1):
        near &= np.abs(c[:, None] - c[None]) <= delta
    labels = np.arange(len(r))
    while True:  # connected components: every window takes the smallest label among its neighbours
        new = np.where(near, labels[None, :], len(r)).min(axis=1)
        new = new[new]
        if np.array_equal(new, labels):
            break
        labels = new
    _, cls, count = np.unique(labels, return_inverse=True, return_counts=True)
    mean = np.zeros((len(count), 4))
    np.add.at(mean, cls, r)
    mean = np.round(mean / count[:, None])
    best = np.full(len(count), -np.inf)
    np.maximum.at(best, cls, w)
    keep = []
    for i, a in enumerate(mean):
        if count[i] <= group_threshold:
            continue
        inside = False
        for j, b in enumerate(mean):
            if j == i or count[j] <= group_threshold:
                continue
            dx, dy = np.round(b[2] * eps), np.round(b[3] * eps)
            if (
                a[0] >= b[0] - dx
                and a[1] >= b[1] - dy
                and a[0] + a[2] <= b[0] + b[2] + dx
                and a[1] + a[3] <= b[1] + b[3] + dy
                and (count[j] > max(3, count[i]) or count[i] < 3)
            ):
                inside = True
                break
        if not inside:
            keep.append(i)
    return mean[keep], best[keep]


def hog_people(frame: np.ndarray, upscale: float = 1.5, hit_threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One RGB frame (H, W, 3) uint8 -> person boxes (n, 4) xyxy in its pixels and SVM margins (n,), best first.

    Args:
        frame: the image.
        upscale: resize factor before detection (the window is 64 x 128 px, so 1.5 finds people ~85 px tall).
        hit_threshold: minimum SVM margin of a window.
    """
    cv2 = require("cv2", "pip install opencv-python-headless")
    hog = _hog()
    img = np.ascontiguousarray(frame[..., ::-1])  # OpenCV works in BGR
    if upscale != 1.0:
        img = cv2.resize(img, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
    rects, weights = hog.detectMultiScale(img, hitThreshold=hit_threshold, winStride=(8, 8), padding=(16, 16))
    if len(rects) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    rects = np.asarray(rects, np.float32)
    boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1) / upscale
    margins = np.asarray(weights, np.float32).reshape(-1)
    order = np.argsort(-margins)
    return tighten(boxes[order]), margins[order]


class HogPeopleDetector:
    """OpenCV's HOG people detector as an extraction detector, run ``rate`` times per second of video.

    A frame whose time starts a new 1/``rate`` s slot is detected; the other frames of the slot get the
    same boxes, so ByteTrack sees steady detections at 30 fps (lagging by at most one slot). Times going
    backwards mean a new video and restart the slots.

    Args:
        classes: labels to keep; it knows only ``person``.
        threshold: minimum score (``svm_confidence`` of the margin) of a returned box.
        rate: detections per second of video.
        upscale: frame resize factor before detection.
        name: recorded in the sample json.
    """

    def __init__(
        self,
        classes: Sequence[str] = ("person",),
        threshold: float = 0.1,
        rate: float = 5.0,
        upscale: float = 1.5,
        name: str = HOG_DETECTOR,
    ):
        self.sv = require("supervision", "pip install 'stereosync[extract]' (supervision)")
        unknown = [c for c in classes if c.lower() != "person"]
        if unknown:
            raise ValueError(f"classes {unknown} are not labels of the HOG people detector; it knows ['person']")
        if not rate > 0:
            raise ValueError(f"detector_rate must be a positive number of detections per second, got {rate!r}")
        self.threshold, self.rate, self.upscale, self.name = threshold, rate, upscale, name
        self._slot, self._last = None, None

    def detect(self, frame: np.ndarray):
        """One frame (H, W, 3) -> ``supervision.Detections`` of the boxes scoring at least ``threshold``."""
        boxes, margins = hog_people(frame, self.upscale)
        return self.detections(boxes, svm_confidence(margins))

    def detections(self, boxes: np.ndarray, conf: np.ndarray):
        """Boxes (n, 4) xyxy pixels, confidences (n,) -> ``supervision.Detections`` of those >= ``threshold``."""
        keep = conf >= self.threshold
        return self.sv.Detections(
            xyxy=boxes[keep].reshape(-1, 4), confidence=conf[keep], class_id=np.zeros(int(keep.sum()), int)
        )

    def __call__(self, frames: np.ndarray, times: np.ndarray) -> list:
        """(B, H, W, 3) uint8 frames at ``times`` (B,) s -> B ``supervision.Detections`` (pixels)."""
        out = []
        for frame, t in zip(frames, np.asarray(times, np.float64)):
            slot = int(np.floor(t * self.rate + 1e-6))
            if self._slot is None or slot != self._slot:
                if self._slot is not None and slot < self._slot:
                    self._last = None  # a new video
                self._slot, self._last = slot, self.detect(frame)
            out.append(self._last)
        return out
