"""A weight-free *parametric-stereo* latent: a mono waveform patch plus one pan value per latent frame.

The idea is HE-AAC v2's Parametric Stereo (a mono downmix plus inter-channel level differences) on the latent
grid of stable-audio-tools' weight-free ``patched`` pretransform. Each latent frame of ``patch_size`` samples
holds

* ``patch_size`` channels: the mono signal ``m = cos θ·L + sin θ·R``, and
* ``pan_channels`` channels: the same pan value ``p = 4θ/π − 1`` in [−1, 1] (−1 hard left, 0 centre, +1 hard
  right), times ``pan_scale``,

where ``θ = atan2(‖R‖, ‖L‖)`` is the frame's constant-power pan angle. Decoding is ``L = cos θ·m``,
``R = sin θ·m``, so a single source panned with the constant-power law (the synthetic scenes' footsteps) comes
back exactly; diffuse or multi-source content loses its inter-channel decorrelation inside a frame.

Why it exists: in the ``patched`` latent a left/right level difference is a
multiplicative relation between two raw-sample blocks, and the tiny models never learned to produce it. Here the
stereo image of a frame is a single number the DiT predicts directly. The pan value is repeated over
``pan_channels`` channels with independent diffusion noise, so (i) it carries a useful share of the diffusion
loss next to the ``patch_size`` waveform channels and (ii) the DiT reads it at ``√pan_channels`` times the
signal-to-noise ratio of one channel, i.e. the stereo image is settled early in sampling, as coarse structure.

Frames quieter than ``floor_db`` (dB full scale, RMS over both channels) lean to the centre: their pan is
undefined or noise (room tone), and a noisy pan target would only cost loss capacity.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ParametricStereoPretransform(nn.Module):
    """Stereo audio (B, 2, T) ↔ latent (B, patch_size + pan_channels, T / patch_size); no parameters.

    Duck-types stable-audio-tools' ``Pretransform`` (``encode``/``decode``, ``downsampling_ratio``,
    ``encoded_channels``, ``io_channels``); built by :class:`~stereosync.models.backbone.Backbone` from a model
    config whose pretransform is ``{"type": "parametric_stereo", "config": {...}}``.

    Args:
        patch_size: audio samples per latent frame.
        pan_channels: copies of the pan value per frame.
        pan_scale: the stored pan is ``p * pan_scale`` (``patched``-like magnitude, so one ``latent_scale``
            normalises the whole latent).
        floor_db: RMS level (dBFS over both channels) below which a frame's pan tends to the centre.
    """

    is_discrete = False
    enable_grad = False

    def __init__(self, patch_size: int = 256, pan_channels: int = 32, pan_scale: float = 0.1, floor_db: float = -60):
        super().__init__()
        if patch_size < 1 or pan_channels < 1 or pan_scale <= 0:
            raise ValueError(
                f"parametric_stereo needs patch_size ≥ 1, pan_channels ≥ 1, pan_scale > 0; got {patch_size}, "
                f"{pan_channels}, {pan_scale}"
            )
        self.patch_size, self.pan_channels, self.pan_scale = int(patch_size), int(pan_channels), float(pan_scale)
        self.floor = 10 ** (floor_db / 20)
        self.io_channels = 2
        self.downsampling_ratio = self.patch_size
        self.encoded_channels = self.patch_size + self.pan_channels

    def _frames(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) → (B, C, L, patch) with T zero-padded to a multiple of ``patch_size``."""
        pad = -x.shape[-1] % self.patch_size
        x = nn.functional.pad(x, (0, pad))
        return x.reshape(*x.shape[:-1], -1, self.patch_size)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != 2:
            raise ValueError(f"parametric_stereo encodes stereo audio (B, 2, T), got shape {tuple(x.shape)}")
        frames = self._frames(x)  # (B, 2, L, P)
        floor = self.floor**2 * self.patch_size  # energy of a frame at the floor, per channel
        energy = frames.pow(2).sum(-1) + floor  # (B, 2, L)
        theta = torch.atan2(energy[:, 1].sqrt(), energy[:, 0].sqrt())  # (B, L) in [0, π/2]
        mono = theta.cos().unsqueeze(-1) * frames[:, 0] + theta.sin().unsqueeze(-1) * frames[:, 1]  # (B, L, P)
        pan = (theta * (4 / math.pi) - 1) * self.pan_scale  # (B, L)
        return torch.cat([mono.transpose(1, 2), pan.unsqueeze(1).expand(-1, self.pan_channels, -1)], dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 3 or z.shape[1] != self.encoded_channels:
            raise ValueError(
                f"parametric_stereo decodes (B, {self.encoded_channels}, L) latents, got shape {tuple(z.shape)}"
            )
        mono = z[:, : self.patch_size].transpose(1, 2)  # (B, L, P)
        theta = ((self.pan(z) + 1) * (math.pi / 4)).unsqueeze(-1)
        stereo = torch.stack([theta.cos() * mono, theta.sin() * mono], dim=1)  # (B, 2, L, P)
        return stereo.flatten(2)

    def channel_weights(self, pan_weight: float) -> torch.Tensor:
        """Per-channel loss weights (C,): 1 on the waveform channels, ``pan_weight`` on the pan channels."""
        weights = torch.ones(self.encoded_channels)
        weights[self.patch_size :] = float(pan_weight)
        return weights

    def pan(self, z: torch.Tensor) -> torch.Tensor:
        """Per-frame pan in [−1, 1] of a latent (B, C, L) → (B, L) (−1 left, +1 right)."""
        return (z[:, self.patch_size :].mean(1) / self.pan_scale).clamp(-1, 1)
