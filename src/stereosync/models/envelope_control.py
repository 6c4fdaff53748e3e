"""Temporal cue: the RMS envelope as the ControlNet's input (SPEC §3, §4).

The envelope (``stereosync.envelope.rms_envelope``) is encoded by the frozen pretransform to the latent grid
(C × L) under ``no_grad``; it is never dropped for classifier-free guidance.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from stereosync.envelope import rms_envelope
from stereosync.models.backbone import Backbone


class EnvelopeControl(nn.Module):
    """Audio (or a stored envelope) → control latent for the ControlNet.

    Args:
        mode: ``"mono"`` (mean of L/R, duplicated: the stereo image must then come from the video; default) or
            ``"stereo"`` (one envelope per channel). The paper does not say which it used.
        from_batch: use the batch's stored ``envelope`` member instead of recomputing it from ``audio``.
    """

    def __init__(self, mode: Literal["mono", "stereo"] = "mono", from_batch: bool = False):
        super().__init__()
        if mode not in ("mono", "stereo"):
            raise ValueError(f"EnvelopeControl mode must be 'mono' or 'stereo', got {mode!r}")
        self.mode, self.from_batch = mode, from_batch

    def envelope(self, batch: dict, sample_rate: int) -> torch.Tensor:
        """(B, 2, T) envelope at audio rate, from ``batch["audio"]`` or ``batch["envelope"]``."""
        if self.from_batch or "audio" not in batch:
            if "envelope" not in batch:
                raise KeyError("EnvelopeControl needs batch 'audio' or a stored 'envelope' member")
            env = batch["envelope"].float()
            return env.expand(-1, 2, -1) if env.shape[1] == 1 else env
        return rms_envelope(batch["audio"].float(), sample_rate, self.mode)

    @torch.no_grad()
    def forward(self, batch: dict, backbone: Backbone) -> torch.Tensor:
        """Control latent (B, C, L) on the backbone's latent grid."""
        return backbone.encode(self.envelope(batch, backbone.sample_rate))
