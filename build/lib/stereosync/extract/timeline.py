"""Timestamp resampling: which source frame is shown at each time of a fixed-rate grid.

Sources may have any frame rate, including a variable one, so frames are picked by presentation time,
never by index: grid time ``t_k = k / fps`` (seconds from the first video frame) takes the source frame
whose timestamp is nearest to ``t_k`` (ties, within 1 µs of float rounding, go to the later frame), and
only grid times before the end of the video (last timestamp + last frame duration) exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

TIE_SECONDS = 1e-6  # timestamps are rationals turned into floats: distances this close are a tie


def nearest_frame_indices(src_times: np.ndarray, fps: float, end_time: float) -> np.ndarray:
    """Reference (non-streaming) resampling of a whole stream.

    Args:
        src_times: (N,) increasing source frame times in s (relative to the first frame).
        fps: grid rate in Hz.
        end_time: end of the video in s; grid times ``>= end_time`` are not produced.

    Returns:
        (M,) int index into ``src_times`` for grid times ``k / fps``, ``k = 0 .. M-1``.
    """
    src_times = np.asarray(src_times, np.float64)
    grid = np.arange(int(np.ceil(end_time * fps - 1e-9))) / fps
    grid = grid[grid < end_time - 1e-9]
    right = np.searchsorted(src_times, grid, side="left").clip(0, len(src_times) - 1)
    left = (right - 1).clip(0)
    take_left = (grid - src_times[left]) < (src_times[right] - grid) - TIE_SECONDS
    return np.where(take_left, left, right)


class GridSampler:
    """Streaming version of :func:`nearest_frame_indices`: push frames in time order, get grid points.

    Args:
        fps: grid rate in Hz.
    """

    def __init__(self, fps: float):
        self.fps = fps
        self.next_k = 0
        self._prev: tuple[float, Any] | None = None

    def _t(self, k: int) -> float:
        return k / self.fps

    def push(self, time: float, payload: Any) -> Iterator[tuple[int, Any]]:
        """Add one source frame (time in s, increasing); yields ``(k, payload)`` for grid points it settles."""
        prev = self._prev
        while self._t(self.next_k) <= time:
            t = self._t(self.next_k)
            # nearest timestamp; before the first frame the first frame is the nearest
            chosen = prev[1] if prev is not None and (t - prev[0]) < (time - t) - TIE_SECONDS else payload
            yield self.next_k, chosen
            self.next_k += 1
        self._prev = (time, payload)

    def finish(self, end_time: float) -> Iterator[tuple[int, Any]]:
        """Settle the grid points left before ``end_time`` (s) with the last frame."""
        if self._prev is None:
            return
        while self._t(self.next_k) < end_time - 1e-9:
            yield self.next_k, self._prev[1]
            self.next_k += 1


def chunk_count(duration: float, chunk_seconds: float) -> int:
    """Whole non-overlapping chunks in ``duration`` s (a shorter tail is dropped)."""
    return int(np.floor(duration / chunk_seconds + 1e-6))
