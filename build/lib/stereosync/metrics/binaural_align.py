"""Binaural Spatial AV-Align and azimuth MAE as a DDP-correct ``torchmetrics.Metric``.

The maths is in ``functional/binaural_align.py`` (docs/spatial_audio.md#metrics).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torchmetrics import Metric

from stereosync.metrics._utils import hide_module, ratio_or_nan
from stereosync.metrics.functional.binaural_align import azimuth_events, binaural_stats
from stereosync.metrics.functional.localiser import EventLocaliser
from stereosync.metrics.functional.spatial_av_align import HOP_S, VIDEO_FPS


class BinauralAlign(Metric):
    """Binaural Spatial AV-Align (ΣTP / (ΣTP + ΣFN)) and azimuth MAE (degrees) pooled over all events.

    States (summed across ranks): TP, FN, Σ|azimuth error|, matched events, and clips seen. ``update`` with
    ``binaural=None`` (a batch without binaural audio) adds nothing; with no binaural clip at all, ``compute``
    returns NaN silently (nothing was asked), with clips but no events it warns.

    Args:
        sample_rate: rate of the binaural audio in Hz.
        box_fps: frame rate of ``boxes``.
        localiser: event activity detector (default :class:`IldLocaliser`); kept out of the ``state_dict``.
        hop_s: event frame length in s (0.1).
        video_fps: rate of the video frames searched for the hit, ±1 frame (4).
        **kwargs: ``torchmetrics.Metric`` options.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        sample_rate: int,
        box_fps: float = 30.0,
        localiser: EventLocaliser | None = None,
        hop_s: float = HOP_S,
        video_fps: float = VIDEO_FPS,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.sample_rate, self.box_fps, self.hop_s, self.video_fps = sample_rate, float(box_fps), hop_s, video_fps
        hide_module(self, "localiser", localiser)
        for name in ("tp", "fn", "n_matched", "n_clips"):
            self.add_state(name, torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("abs_err_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, boxes: torch.Tensor, box_mask: torch.Tensor, binaural: torch.Tensor | None = None) -> None:
        """Add a batch.

        Args:
            boxes: (B, FB, K, 4) [x0, y0, x1, y1] normalised to [0, 1], at ``box_fps``.
            box_mask: (B, FB, K) bool.
            binaural: (B, 2, T) binaural audio [left, right] at ``sample_rate``; None adds nothing.
        """
        if binaural is None:
            return
        for b in range(binaural.shape[0]):
            ev = azimuth_events(
                binaural[b].detach(), self.sample_rate, boxes[b], box_mask[b], self.box_fps,
                localiser=self.localiser, hop_s=self.hop_s, video_fps=self.video_fps,
            )  # fmt: skip
            stats = binaural_stats(ev)
            self.tp += stats.tp
            self.fn += stats.fn
            self.abs_err_sum += stats.abs_err_sum
            self.n_matched += stats.n_matched
            self.n_clips += 1

    def compute(self) -> dict[str, torch.Tensor]:
        """``binaural_spatial_av_align`` ([0, 1]) and ``azimuth_mae`` (degrees), float64 scalars."""
        if int(self.n_clips) == 0:
            nan = torch.tensor(math.nan, dtype=torch.float64, device=self.tp.device)
            return {"binaural_spatial_av_align": nan, "azimuth_mae": nan.clone()}
        return {
            "binaural_spatial_av_align": ratio_or_nan(self.tp, self.tp + self.fn, "binaural Spatial AV-Align"),
            "azimuth_mae": ratio_or_nan(self.abs_err_sum, self.n_matched, "azimuth MAE"),
        }
