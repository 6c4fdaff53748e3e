"""AV-Align as a DDP-correct ``torchmetrics.Metric`` (definition in :mod:`stereosync.metrics.functional.av_align`)."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torchmetrics import Metric

from stereosync.metrics._utils import ratio_or_nan
from stereosync.metrics.functional.av_align import av_align

log = logging.getLogger(__name__)


class AVAlign(Metric):
    """AV-Align: mean over clips of the IoU between audio onsets and optical-flow peaks (Yariv et al. 2024).

    Clips with neither an onset nor a motion peak have no defined IoU and are left out (logged).
    States (summed across ranks): Σ IoU (float64) and the number of scored clips.

    Args:
        sample_rate: rate of ``preds`` in Hz.
        video_fps: frame rate of ``frames``; also sets the matching tolerance ±1/fps.
        **kwargs: ``torchmetrics.Metric`` options.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, sample_rate: int, video_fps: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.sample_rate = sample_rate
        self.video_fps = float(video_fps)
        self.add_state("iou_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n_clips", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, frames: torch.Tensor) -> None:
        """Add a batch.

        Args:
            preds: (B, C, T) generated audio at ``sample_rate`` (channels averaged).
            frames: (B, F, H, W, 3) uint8 RGB video frames at ``video_fps``.
        """
        audio = preds.detach().float().cpu().numpy()
        video = frames.detach().cpu().numpy()
        for b in range(audio.shape[0]):
            iou = av_align(audio[b], self.sample_rate, video[b], self.video_fps)
            if math.isnan(iou):
                log.info("AV-Align: clip without onsets or motion peaks left out")
                continue
            self.iou_sum += iou
            self.n_clips += 1

    def compute(self) -> torch.Tensor:
        """Mean IoU in [0, 1] (float64 scalar); NaN with a warning if no clip could be scored."""
        return ratio_or_nan(self.iou_sum, self.n_clips, "AV-Align")
