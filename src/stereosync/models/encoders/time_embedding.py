"""Frame-time embedding for token streams.

stable-audio-tools gives cross-attention context tokens no positional information (SPEC §10), so a time series
of tokens (one per depth frame or box frame) carries its own: sinusoidal features of the frame's time within the
chunk, through a zero-initialised linear layer, added to each token.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FrameTimeEmbedding(nn.Module):
    """Adds an embedding of normalised frame time (0 = chunk start, 1 = chunk end) to each token.

    Args:
        dim: token width.
        num_frequencies: sinusoid pairs; frequencies 1 … 2^(n-1) cycles per chunk.
    """

    def __init__(self, dim: int, num_frequencies: int = 16):
        super().__init__()
        self.register_buffer("freqs", 2.0 ** torch.arange(num_frequencies) * math.pi, persistent=False)
        self.proj = nn.Linear(2 * num_frequencies, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, F, ..., dim), axis 1 = time frames → same shape with the frame-time embedding added."""
        frames = tokens.shape[1]
        times = (torch.arange(frames, device=tokens.device, dtype=tokens.dtype) + 0.5) / frames
        angles = times[:, None] * self.freqs.to(tokens.dtype)
        emb = self.proj(torch.cat([angles.sin(), angles.cos()], dim=-1))  # (F, dim)
        shape = [1, frames] + [1] * (tokens.dim() - 3) + [tokens.shape[-1]]
        return tokens + emb.view(shape)
