"""Centre-robust companion of Spatial AV-Align (see :mod:`stereosync.metrics.functional.pan_tracking`)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torchmetrics import Metric

from stereosync.metrics._utils import hide_module, ratio_or_nan
from stereosync.metrics.functional.localiser import EventLocaliser
from stereosync.metrics.functional.pan_tracking import MIN_BOX_STD, MIN_EVENTS, pan_tracking_stats
from stereosync.metrics.functional.spatial_av_align import HOP_S, MARGIN, VIDEO_FPS


class PanTracking(Metric):
    """Does the stereo image follow the tracked object? Four centre-robust numbers.

    ``compute`` returns ``{"pan_mae": ..., "pan_corr": ..., "pan_corr_per_source": ...,
    "spatial_av_align_offcentre": ...}`` (a ``MetricCollection`` flattens them into its result): pooled mean
    |estimated pan − box centre| (frame widths, lower is better), mean per-clip pan/centre correlation over clips
    whose box moves, the same per clip and tracked object (each event counted for its nearest box), and Spatial
    AV-Align over events whose boxes all lie off the centre zone. Each is NaN with a warning if undefined.
    All states are sums, reduced across ranks.

    Args:
        sample_rate: rate of ``preds`` in Hz.
        box_fps: frame rate of ``boxes``.
        localiser: event localiser (default model-free ILD); kept out of ``state_dict``.
        margin: Spatial AV-Align margin and centre-zone half-width, frame widths.
        hop_s: event frame length in seconds.
        video_fps: rate of the video frames searched for the off-centre score.
        min_box_std: a clip enters ``pan_corr`` only if its box centre's std reaches this (frame widths).
        min_events: ... and it has at least this many events.
        **kwargs: ``torchmetrics.Metric`` options.
    """

    is_differentiable = False
    full_state_update = False

    def __init__(
        self,
        sample_rate: int,
        box_fps: float = 30.0,
        localiser: EventLocaliser | None = None,
        margin: float = MARGIN,
        hop_s: float = HOP_S,
        video_fps: float = VIDEO_FPS,
        min_box_std: float = MIN_BOX_STD,
        min_events: int = MIN_EVENTS,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.sample_rate, self.box_fps = sample_rate, float(box_fps)
        self.options = {
            "margin": margin,
            "hop_s": hop_s,
            "video_fps": video_fps,
            "min_box_std": min_box_std,
            "min_events": min_events,
        }
        hide_module(self, "localiser", localiser)
        for name, dtype in [
            ("abs_err_sum", torch.float64),
            ("n_events", torch.long),
            ("corr_sum", torch.float64),
            ("n_corr_clips", torch.long),
            ("source_corr_sum", torch.float64),
            ("n_source_corr", torch.long),
            ("offcentre_tp", torch.long),
            ("offcentre_fn", torch.long),
        ]:
            self.add_state(name, torch.tensor(0, dtype=dtype), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, boxes: torch.Tensor, box_mask: torch.Tensor) -> None:
        """Add a batch.

        Args:
            preds: (B, 2, T) generated stereo audio at ``sample_rate``.
            boxes: (B, FB, K, 4) [x0, y0, x1, y1] normalised to [0, 1], at ``box_fps``.
            box_mask: (B, FB, K) bool, True where the object is detected.
        """
        for b in range(preds.shape[0]):
            s = pan_tracking_stats(
                preds[b].detach(),
                self.sample_rate,
                boxes[b],
                box_mask[b],
                self.box_fps,
                localiser=self.localiser,
                **self.options,
            )
            self.abs_err_sum += s.abs_err_sum
            self.n_events += s.n_events
            if not math.isnan(s.corr):
                self.corr_sum += s.corr
                self.n_corr_clips += 1
            self.source_corr_sum += s.source_corr_sum
            self.n_source_corr += s.n_source_corr
            self.offcentre_tp += s.offcentre_tp
            self.offcentre_fn += s.offcentre_fn

    def compute(self) -> dict[str, torch.Tensor]:
        """``pan_mae`` (frame widths), ``pan_corr`` and ``pan_corr_per_source`` ([-1, 1]),
        ``spatial_av_align_offcentre`` ([0, 1])."""
        return {
            "pan_mae": ratio_or_nan(self.abs_err_sum, self.n_events, "pan MAE"),
            "pan_corr": ratio_or_nan(self.corr_sum, self.n_corr_clips, "pan correlation"),
            "pan_corr_per_source": ratio_or_nan(self.source_corr_sum, self.n_source_corr, "per-source pan correlation"),
            "spatial_av_align_offcentre": ratio_or_nan(
                self.offcentre_tp, self.offcentre_tp + self.offcentre_fn, "off-centre Spatial AV-Align"
            ),
        }
