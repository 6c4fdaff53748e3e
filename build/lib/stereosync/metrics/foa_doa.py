"""FOA direction-of-arrival error per sound event as a DDP-correct ``torchmetrics.Metric``.

The maths is in ``functional/foa_doa.py`` (docs/spatial_audio.md#metrics).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torchmetrics import Metric

from stereosync.metrics._utils import hide_module, ratio_or_nan
from stereosync.metrics.functional.foa_doa import foa_doa_stats
from stereosync.metrics.functional.localiser import EventLocaliser
from stereosync.metrics.functional.spatial_av_align import HOP_S


class FoaDoaError(Metric):
    """Mean DOA error in degrees of first-order ambisonics events against the nearest box direction.

    States (summed across ranks): Σ error, matched events, clips seen. ``update`` with ``foa=None`` adds
    nothing; with no FOA clip at all, ``compute`` returns NaN silently, with clips but no events it warns.

    Args:
        sample_rate: rate of the FOA audio in Hz.
        box_fps: frame rate of ``boxes``.
        localiser: event activity detector, run on W (default :class:`IldLocaliser`).
        hop_s: event frame length in s (0.1).
        **kwargs: ``torchmetrics.Metric`` options.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(
        self,
        sample_rate: int,
        box_fps: float = 30.0,
        localiser: EventLocaliser | None = None,
        hop_s: float = HOP_S,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.sample_rate, self.box_fps, self.hop_s = sample_rate, float(box_fps), hop_s
        hide_module(self, "localiser", localiser)
        self.add_state("err_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n_matched", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("n_clips", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, boxes: torch.Tensor, box_mask: torch.Tensor, foa: torch.Tensor | None = None) -> None:
        """Add a batch: ``foa`` (B, 4, T) ambiX [W, Y, Z, X] (None adds nothing), boxes (B, FB, K, 4), box_mask."""
        if foa is None:
            return
        for b in range(foa.shape[0]):
            stats = foa_doa_stats(
                foa[b].detach(), self.sample_rate, boxes[b], box_mask[b], self.box_fps,
                localiser=self.localiser, hop_s=self.hop_s,
            )  # fmt: skip
            self.err_sum += stats.err_sum
            self.n_matched += stats.n_matched
            self.n_clips += 1

    def compute(self) -> torch.Tensor:
        """Mean DOA error in degrees (float64 scalar)."""
        if int(self.n_clips) == 0:
            return torch.tensor(math.nan, dtype=torch.float64, device=self.err_sum.device)
        return ratio_or_nan(self.err_sum, self.n_matched, "FOA DOA error")
