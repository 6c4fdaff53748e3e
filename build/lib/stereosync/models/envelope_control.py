"""Temporal cue: the RMS envelope as the ControlNet's input.

The envelope (``stereosync.envelope.rms_envelope``) is encoded by the frozen pretransform to the latent grid
(C × L) under ``no_grad``; it is never dropped for classifier-free guidance.
"""

from __future__ import annotations

import math
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
        pan_from_boxes: a departure from the paper (off by default): pan the mono envelope by the tracked boxes'
            mean horizontal centre with the constant-power law (L = √2·cos θ, R = √2·sin θ, θ = x·π/2; centre
            leaves it unchanged), so the ControlNet also sees the video's left/right position on the latent
            time grid. Reads ``boxes``/``box_mask``; a frame with no box counts as centre.
    """

    def __init__(
        self, mode: Literal["mono", "stereo"] = "mono", from_batch: bool = False, pan_from_boxes: bool = False
    ):
        super().__init__()
        if mode not in ("mono", "stereo"):
            raise ValueError(f"EnvelopeControl mode must be 'mono' or 'stereo', got {mode!r}")
        if pan_from_boxes and mode != "mono":
            raise ValueError("EnvelopeControl pan_from_boxes needs mode 'mono' (a stereo envelope is already panned)")
        self.mode, self.from_batch, self.pan_from_boxes = mode, from_batch, pan_from_boxes

    def envelope(self, batch: dict, sample_rate: int) -> torch.Tensor:
        """(B, 2, T) envelope at audio rate: the batch's ``control_envelope`` (set by the data side, e.g. the
        envelope predictor's), else from ``batch["audio"]`` or the stored ``batch["envelope"]``."""
        if "control_envelope" in batch:
            env = batch["control_envelope"].float()
            return env.expand(-1, 2, -1) if env.shape[1] == 1 else env
        if self.from_batch or "audio" not in batch:
            if "envelope" not in batch:
                raise KeyError("EnvelopeControl needs batch 'audio' or a stored 'envelope' member")
            env = batch["envelope"].float()
            return env.expand(-1, 2, -1) if env.shape[1] == 1 else env
        return rms_envelope(batch["audio"].float(), sample_rate, self.mode)

    @torch.no_grad()
    def forward(self, batch: dict, backbone: Backbone) -> torch.Tensor:
        """Control latent (B, C, L) on the backbone's latent grid.

        A batch's precomputed ``envelope_latent`` (``python -m stereosync.data.latents``) is used as is: no VAE
        encoder runs in the step. Box panning needs the waveform envelope, so it always encodes.
        """
        if "envelope_latent" in batch and not self.pan_from_boxes and "control_envelope" not in batch:
            return batch["envelope_latent"].float() * backbone.latent_scale
        env = self.envelope(batch, backbone.sample_rate)
        if self.pan_from_boxes:
            env = env * box_pan_gains(batch["boxes"], batch["box_mask"], env.shape[-1]).to(env)
        return backbone.encode(env)


def box_pan_gains(boxes: torch.Tensor, box_mask: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Constant-power gains from box centres, held per video frame and stretched to audio rate.

    Args:
        boxes: (B, F, K, 4) boxes normalised to [0, 1], frames spanning the chunk.
        box_mask: (B, F, K) presence.
        num_samples: T, audio samples of the chunk.

    Returns:
        (B, 2, T) gains √2·[cos θ, sin θ], θ = x·π/2, x the mean centre of the present boxes (0.5 if none).
    """
    mask = box_mask.float()
    centre = 0.5 * (boxes[..., 0] + boxes[..., 2]).float()  # (B, F, K)
    x = torch.where(mask.sum(-1) > 0, (centre * mask).sum(-1) / mask.sum(-1).clamp(min=1), 0.5)  # (B, F)
    frame = (torch.arange(num_samples, device=x.device) * x.shape[1]) // num_samples  # sample → video frame
    theta = x[:, frame] * (math.pi / 2)  # (B, T)
    return math.sqrt(2) * torch.stack([theta.cos(), theta.sin()], dim=1)
