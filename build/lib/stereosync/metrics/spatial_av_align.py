"""Spatial AV-Align as a DDP-correct ``torchmetrics.Metric`` (maths in ``functional/spatial_av_align.py``)."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric

from stereosync.metrics._utils import hide_module, ratio_or_nan
from stereosync.metrics.functional.localiser import EventLocaliser
from stereosync.metrics.functional.spatial_av_align import HOP_S, MARGIN, VIDEO_FPS, spatial_av_align_counts


class SpatialAVAlign(Metric):
    """Spatial AV-Align (SAVGBench): ΣTP / (ΣTP + ΣFN) pooled over all sound events of all clips.

    States (summed across ranks): TP and FN counts. With no event at all (e.g. silent output) the score is
    undefined: ``compute`` warns and returns NaN.

    Args:
        sample_rate: rate of ``preds`` in Hz.
        box_fps: frame rate of ``boxes``.
        localiser: event localiser (default model-free ILD, :class:`IldLocaliser`); a learned one (an
            ``nn.Module``) is kept out of the metric's ``state_dict``.
        margin: half-width of the event interval in frame widths (40/256).
        hop_s: event frame length in seconds (0.1).
        video_fps: rate of the video frames searched, ±1 frame (4).
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
        margin: float = MARGIN,
        hop_s: float = HOP_S,
        video_fps: float = VIDEO_FPS,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.sample_rate, self.box_fps = sample_rate, float(box_fps)
        self.margin, self.hop_s, self.video_fps = margin, hop_s, video_fps
        hide_module(self, "localiser", localiser)
        self.add_state("tp", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("fn", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, boxes: torch.Tensor, box_mask: torch.Tensor) -> None:
        """Add a batch.

        Args:
            preds: (B, 2, T) generated stereo audio at ``sample_rate``.
            boxes: (B, FB, K, 4) [x0, y0, x1, y1] normalised to [0, 1], at ``box_fps``.
            box_mask: (B, FB, K) bool, True where the object is detected.
        """
        for b in range(preds.shape[0]):
            tp, fn = spatial_av_align_counts(
                preds[b].detach(),
                self.sample_rate,
                boxes[b],
                box_mask[b],
                self.box_fps,
                localiser=self.localiser,
                margin=self.margin,
                hop_s=self.hop_s,
                video_fps=self.video_fps,
            )
            self.tp += tp
            self.fn += fn

    def compute(self) -> torch.Tensor:
        """Score in [0, 1] (float64 scalar), NaN with a warning when no event was detected."""
        return ratio_or_nan(self.tp, self.tp + self.fn, "Spatial AV-Align")
