"""Semantic cue: the LAION-CLAP audio embedding as one cross-attention token (docs/design.md#streams)."""

from __future__ import annotations

import torch
from torch import nn


class ClapEncoder(nn.Module):
    """Trainable linear map of a 512-d CLAP embedding to one token.

    Args:
        dim: token width (the backbone's ``cond_token_dim``: 768 for SAO).
        clap_dim: CLAP embedding width (512 for LAION-CLAP).
    """

    batch_keys = ("clap",)

    def __init__(self, dim: int = 768, clap_dim: int = 512):
        super().__init__()
        self.dim, self.clap_dim = dim, clap_dim
        self.proj = nn.Linear(clap_dim, dim)

    def forward(self, clap: torch.Tensor) -> torch.Tensor:
        """clap (B, 512) → tokens (B, 1, dim)."""
        if clap.shape[-1] != self.clap_dim:
            raise ValueError(f"ClapEncoder expects {self.clap_dim}-d embeddings, the batch has {clap.shape[-1]}")
        return self.proj(clap.float()).unsqueeze(1)
