"""Embedders for FAD: the protocol a FAD embedder follows, and the stereo-aware L/R wrapper."""

from __future__ import annotations

from typing import Protocol

import torch


class AudioEmbedder(Protocol):
    """What :class:`~stereosync.metrics.FAD` needs from an injected embedder (``ClapAudioEncoder`` is one).

    Attributes:
        name: embedding name for reports (e.g. ``clap-htsat-tiny-fusion``).
        sample_rate: rate the embedder works at, Hz (inputs are resampled to it by the embedder).
        dim: embedding size D.
        channel_handling: ``"mono"`` (downmix) or ``"lr-concat"`` (L and R embedded separately).
    """

    name: str
    sample_rate: int
    dim: int
    channel_handling: str

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """(B, C, T) audio at ``sample_rate`` Hz → (B, D) embeddings."""
        ...


class StereoEmbedder(torch.nn.Module):
    """Stereo-aware embedding: L and R embedded separately by a mono embedder, then concatenated.

    A hard-panned mix and its mirror image have the same mono embedding but different stereo ones, so FAD on
    this embedding sees the stereo image.

    Args:
        embedder: a mono :class:`AudioEmbedder` (e.g. ``ClapAudioEncoder``).
    """

    channel_handling = "lr-concat"

    def __init__(self, embedder: torch.nn.Module):
        super().__init__()
        self.embedder = embedder
        self.name = embedder.name
        self.sample_rate = embedder.sample_rate
        self.dim = 2 * embedder.dim

    def forward(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Embed L and R in one batch.

        Args:
            audio: (B, 2, T) stereo waveform at ``sample_rate`` Hz.
            sample_rate: Hz.

        Returns:
            (B, 2·D): [embedding(L) | embedding(R)].
        """
        if audio.dim() != 3 or audio.shape[1] != 2:
            raise ValueError(f"StereoEmbedder needs (B, 2, T) audio, got {tuple(audio.shape)}")
        b = audio.shape[0]
        both = self.embedder(torch.cat([audio[:, :1], audio[:, 1:]], dim=0), sample_rate)  # (2B, D)
        return torch.cat([both[:b], both[b:]], dim=-1)
