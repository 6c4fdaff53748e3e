"""Several envelope predictors averaged: the envelope the ControlNet reads is the mean of their envelopes.

``data.envelope_predictor`` takes a list of predictor files for it. Predictors that err differently average
their errors out: the picture-only predictor places the steps where the generator lands them on their frame,
and a predictor reading the timbre reference's CLAP embedding (``clap_dim``) gives each material its level
(docs/envelope_predictor.md#an-ensemble-of-the-picture-only-and-the-clap-predictor). Each member reads the
CLAP embedding only if it was trained to.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

from stereosync.models.envelope_predictor import EnvelopePredictor


class EnvelopeEnsemble(nn.Module):
    """The mean of the members' envelopes, with :class:`EnvelopePredictor`'s ``predict`` signature.

    Args:
        members: the predictors (at least one), trained at the same sample rate on the same number of tracked
            objects (``datamodules.predict.check_envelope_predictor`` checks each file against the run).
    """

    def __init__(self, members: Sequence[EnvelopePredictor]):
        super().__init__()
        if not members:
            raise ValueError("EnvelopeEnsemble needs at least one predictor")
        self.members = nn.ModuleList(members)

    @property
    def clap_dim(self) -> int:
        """The CLAP width a batch must carry: that of the members that read one (0 when none does)."""
        return max(m.clap_dim for m in self.members)

    @torch.no_grad()
    def predict(
        self,
        motion: torch.Tensor,
        boxes: torch.Tensor,
        box_mask: torch.Tensor,
        num_samples: int,
        clap: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, 2, S): the mean of the members' :meth:`EnvelopePredictor.predict`; ``clap`` goes to the members
        that read it."""
        x = (motion, boxes, box_mask, num_samples)
        return torch.stack([m.predict(*x, clap if m.clap_dim else None) for m in self.members]).mean(dim=0)

    @classmethod
    def from_pretrained(cls, paths: Sequence[str | os.PathLike]) -> EnvelopeEnsemble:
        """Load each file with :meth:`EnvelopePredictor.from_pretrained` (``pkg://`` paths allowed)."""
        return cls([EnvelopePredictor.from_pretrained(p) for p in paths]).eval()


def load_envelope_predictor(spec: str | Sequence[str]) -> EnvelopePredictor | EnvelopeEnsemble:
    """``data.envelope_predictor``: one file → its predictor; a list of files → their ensemble."""
    if isinstance(spec, str | os.PathLike):
        return EnvelopePredictor.from_pretrained(spec)
    files = list(spec)
    return EnvelopePredictor.from_pretrained(files[0]) if len(files) == 1 else EnvelopeEnsemble.from_pretrained(files)
