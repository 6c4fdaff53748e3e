"""Spatial cue 1: depth maps at 4 fps → one token per frame (docs/design.md#streams).

Two inputs: precomputed per-frame image-encoder embeddings (the paper: EVA-CLIP ViT-g on each depth map) through
a linear layer, or small raw depth maps through a small trainable conv encoder (where no image encoder is
available, e.g. the tiny configuration).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from stereosync.models.encoders.time_embedding import FrameTimeEmbedding


class DepthEncoder(nn.Module):
    """Depth frames → (B, F, dim) tokens.

    Args:
        dim: token width (backbone ``cond_token_dim``).
        source: ``"embedding"`` reads batch ``depth_emb`` (B, F, D); ``"maps"`` reads ``depth`` (B, F, H, W).
        embed_dim: D, width of precomputed embeddings (``source="embedding"``; EVA-CLIP ViT-g: 1024).
        channels: conv widths of the map encoder (``source="maps"``).
        time_embedding: add a frame-time embedding (tokens otherwise carry no time, docs/design.md#departures).
    """

    def __init__(
        self,
        dim: int = 768,
        source: Literal["embedding", "maps"] = "embedding",
        embed_dim: int = 1024,
        channels: tuple[int, ...] = (16, 32, 64),
        time_embedding: bool = True,
    ):
        super().__init__()
        if source not in ("embedding", "maps"):
            raise ValueError(f"DepthEncoder source must be 'embedding' or 'maps', got {source!r}")
        self.dim, self.source, self.embed_dim = dim, source, embed_dim
        self.batch_keys = ("depth_emb",) if source == "embedding" else ("depth",)
        if source == "embedding":
            self.proj = nn.Linear(embed_dim, dim)
        else:
            layers, c_in = [], 1
            for c in channels:
                layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.SiLU()]
                c_in = c
            self.maps = nn.Sequential(*layers, nn.AdaptiveAvgPool2d((2, 4)), nn.Flatten())
            self.proj = nn.Linear(c_in * 8, dim)
        self.time = FrameTimeEmbedding(dim) if time_embedding else None

    def forward(self, depth: torch.Tensor) -> torch.Tensor:
        """``depth_emb`` (B, F, D) or ``depth`` (B, F, H, W) in [0, 1] → tokens (B, F, dim)."""
        if self.source == "embedding":
            if depth.dim() != 3 or depth.shape[-1] != self.embed_dim:
                raise ValueError(f"DepthEncoder expects depth_emb (B, F, {self.embed_dim}), got {tuple(depth.shape)}")
            tokens = self.proj(depth.float())
        else:
            if depth.dim() != 4:
                raise ValueError(f"DepthEncoder(source='maps') expects depth (B, F, H, W), got {tuple(depth.shape)}")
            b, f, h, w = depth.shape
            feats = self.maps(depth.float().reshape(b * f, 1, h, w))
            tokens = self.proj(feats).reshape(b, f, self.dim)
        return self.time(tokens) if self.time is not None else tokens
