"""Spatial cue 2: tracked bounding boxes at 30 fps → cross-attention tokens (docs/design.md#streams).

``per_number`` (the paper): each coordinate of each box is one token, SAO NumberConditioner style — learned
Fourier features of the number, then a linear layer. ``per_frame`` (compact): one token per frame and object
from the four coordinates. A frame where an object is not detected gets a learned *absent* token, never a fake
box. With ``time_embedding`` each token also carries its frame time (the paper's per-number tokens lack it,
docs/design.md#departures; switch it off for the paper-faithful ablation).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from stereosync.models.encoders.time_embedding import FrameTimeEmbedding


class LearnedFourierFeatures(nn.Module):
    """Number in [0, 1] → [cos, sin] of learned frequencies (as SAO's NumberEmbedder), (..., n) → (..., 2·half)."""

    def __init__(self, half: int = 128, std: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(half) * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = 2 * torch.pi * x[..., None] * self.weight
        return torch.cat([x[..., None], f.cos(), f.sin()], dim=-1)


class BoxEncoder(nn.Module):
    """Boxes (B, F, K, 4) + presence mask (B, F, K) → tokens.

    Args:
        dim: token width (backbone ``cond_token_dim``).
        mode: ``"per_frame"`` → (B, F·K, dim); ``"per_number"`` → (B, F·K·4, dim).
        num_objects: K, tracked objects per frame.
        fourier_dim: learned Fourier feature pairs per number.
        time_embedding: add a frame-time embedding to every token.
    """

    batch_keys = ("boxes", "box_mask")

    def __init__(
        self,
        dim: int = 768,
        mode: Literal["per_frame", "per_number"] = "per_frame",
        num_objects: int = 1,
        fourier_dim: int = 64,
        time_embedding: bool = True,
    ):
        super().__init__()
        if mode not in ("per_frame", "per_number"):
            raise ValueError(f"BoxEncoder mode must be 'per_frame' or 'per_number', got {mode!r}")
        self.dim, self.mode, self.num_objects = dim, mode, num_objects
        self.fourier = LearnedFourierFeatures(fourier_dim)
        per_number = 2 * fourier_dim + 1
        self.proj = nn.Linear(per_number if mode == "per_number" else 4 * per_number, dim)
        self.object_emb = nn.Parameter(torch.zeros(num_objects, dim))  # tells the K objects apart
        self.absent = nn.Parameter(torch.randn(dim) * 0.02)
        self.time = FrameTimeEmbedding(dim) if time_embedding else None

    def forward(self, boxes: torch.Tensor, box_mask: torch.Tensor) -> torch.Tensor:
        """boxes (B, F, K, 4) normalised [x0, y0, x1, y1]; box_mask (B, F, K) bool → tokens (B, N, dim)."""
        if boxes.dim() != 4 or boxes.shape[-1] != 4 or boxes.shape[2] != self.num_objects:
            raise ValueError(f"BoxEncoder expects boxes (B, F, {self.num_objects}, 4), got {tuple(boxes.shape)}")
        b, f, k, _ = boxes.shape
        feats = self.fourier(boxes.float())  # (B, F, K, 4, P)
        present = box_mask.bool()[..., None]
        if self.mode == "per_frame":
            tokens = self.proj(feats.flatten(-2))  # (B, F, K, dim)
            tokens = torch.where(present, tokens, self.absent) + self.object_emb
        else:
            tokens = self.proj(feats)  # (B, F, K, 4, dim)
            tokens = torch.where(present[..., None], tokens, self.absent) + self.object_emb[:, None]
        if self.time is not None:
            tokens = self.time(tokens)
        return tokens.reshape(b, -1, self.dim)
