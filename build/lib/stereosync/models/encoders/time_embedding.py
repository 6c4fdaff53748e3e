"""Frame-time embedding for token streams.

stable-audio-tools gives cross-attention context tokens no positional information (docs/design.md#departures), so a
time series
of tokens (one per depth frame or box frame) carries its own: sinusoidal features of the frame's time within the
chunk, through a zero-initialised linear layer, added to each token.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def frame_time_features(
    frames: int, num_frequencies: int = 16, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Sinusoids of normalised frame time (frame centres in (0, 1) across the chunk) → (frames, 2·num_frequencies).

    Frequencies 1 … 2^(n-1) half-cycles per chunk. The same basis for token streams (:class:`FrameTimeEmbedding`)
    and for the latent frames (``ControlNet(frame_time=True)``), so both sides of cross-attention can be matched
    on time.
    """
    freqs = 2.0 ** torch.arange(num_frequencies, device=device, dtype=dtype) * math.pi
    times = (torch.arange(frames, device=device, dtype=dtype) + 0.5) / frames
    angles = times[:, None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class FrameTimeEmbedding(nn.Module):
    """Adds an embedding of normalised frame time (0 = chunk start, 1 = chunk end) to each token.

    Args:
        dim: token width.
        num_frequencies: sinusoid pairs; frequencies 1 … 2^(n-1) cycles per chunk.
    """

    def __init__(self, dim: int, num_frequencies: int = 16):
        super().__init__()
        self.num_frequencies = num_frequencies
        self.proj = nn.Linear(2 * num_frequencies, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, F, ..., dim), axis 1 = time frames → same shape with the frame-time embedding added."""
        frames = tokens.shape[1]
        emb = self.proj(frame_time_features(frames, self.num_frequencies, tokens.device, tokens.dtype))  # (F, dim)
        shape = [1, frames] + [1] * (tokens.dim() - 3) + [tokens.shape[-1]]
        return tokens + emb.view(shape)
