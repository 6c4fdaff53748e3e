"""E-L1 as a DDP-correct ``torchmetrics.Metric`` (definition in :mod:`stereosync.metrics.functional.e_l1`)."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric

from stereosync.metrics._utils import ratio_or_nan
from stereosync.metrics.functional.e_l1 import e_l1_per_clip


class EL1(Metric):
    """E-L1: mean over clips of the mean |frame-RMS(generated) − frame-RMS(reference)| (mono, 44.1 kHz).

    States (summed across ranks): Σ per-clip E-L1 (float64) and the clip count.

    Args:
        sample_rate: rate of ``preds`` and ``target`` in Hz (resampled to 44.1 kHz internally).
        **kwargs: ``torchmetrics.Metric`` options.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, sample_rate: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.sample_rate = sample_rate
        self.add_state("e_l1_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n_clips", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch.

        Args:
            preds: (B, C, T1) generated audio at ``sample_rate``; zero-padded/cropped to the reference length.
            target: (B, C, T2) reference audio at ``sample_rate``.
        """
        per_clip = e_l1_per_clip(preds, target, self.sample_rate)
        self.e_l1_sum += per_clip.sum().to(self.e_l1_sum.device)
        self.n_clips += per_clip.numel()

    def compute(self) -> torch.Tensor:
        """E-L1 (linear amplitude, float64 scalar); NaN with a warning if no clip was added."""
        return ratio_or_nan(self.e_l1_sum, self.n_clips, "E-L1")
