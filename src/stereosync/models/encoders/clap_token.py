"""Semantic cue: the LAION-CLAP audio embedding as one cross-attention token (docs/design.md#streams)."""

from __future__ import annotations

import torch
from torch import nn

from stereosync.resources import resolve_path


class ClapEncoder(nn.Module):
    """Trainable linear map of a 512-d CLAP embedding to one token.

    Args:
        dim: token width (the backbone's ``cond_token_dim``: 768 for SAO).
        clap_dim: CLAP embedding width (512 for LAION-CLAP).
        weights: optional start for the projection: a ``.safetensors`` file holding ``proj.weight`` and
            ``proj.bias`` (``pkg://`` allowed), as ``python -m stereosync.models.export_backbone CKPT OUT --clap
            FILE`` writes it from a backbone pretrained with the CLAP stream. The backbone's cross-attention then
            reads the token it learned to read from the first step; the projection still trains. ``None``
            (default): a fresh projection.
    """

    batch_keys = ("clap",)

    def __init__(self, dim: int = 768, clap_dim: int = 512, weights: str | None = None):
        super().__init__()
        self.dim, self.clap_dim = dim, clap_dim
        self.proj = nn.Linear(clap_dim, dim)
        if weights is not None:
            self.load_projection(weights)

    def load_projection(self, weights: str) -> None:
        """Copy ``proj.weight`` / ``proj.bias`` from ``weights``; a ValueError names the file and what is wrong."""
        from safetensors.torch import load_file

        state = load_file(str(resolve_path(weights)))
        own = self.proj.state_dict()
        keys = {f"proj.{k}" for k in own}
        if not keys <= set(state):
            raise ValueError(
                f"CLAP projection weights {weights}: the file holds {sorted(state)[:6]}, not {sorted(keys)} "
                f"(write it with `python -m stereosync.models.export_backbone CKPT OUT --clap FILE`)"
            )
        for name, tensor in own.items():
            if state[f"proj.{name}"].shape != tensor.shape:
                raise ValueError(
                    f"CLAP projection weights {weights}: proj.{name} is {tuple(state[f'proj.{name}'].shape)}, "
                    f"model.clap needs {tuple(tensor.shape)} (dim {self.dim}, clap_dim {self.clap_dim})"
                )
        self.proj.load_state_dict({name: state[f"proj.{name}"] for name in own})

    def forward(self, clap: torch.Tensor) -> torch.Tensor:
        """clap (B, 512) → tokens (B, 1, dim)."""
        if clap.shape[-1] != self.clap_dim:
            raise ValueError(f"ClapEncoder expects {self.clap_dim}-d embeddings, the batch has {clap.shape[-1]}")
        return self.proj(clap.float()).unsqueeze(1)
