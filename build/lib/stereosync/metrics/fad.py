"""FAD as a DDP-correct ``torchmetrics.Metric`` with an injected embedder (maths in ``functional/fad.py``)."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torchmetrics import Metric

from stereosync.metrics._utils import hide_module, module_device
from stereosync.metrics.functional.fad import frechet_distance, gaussian_sums, mean_cov_from_sums

log = logging.getLogger(__name__)
_SETS = ("gen", "ref")


class FAD(Metric):
    """Fréchet Audio Distance between generated (``preds``) and reference (``target``) embeddings.

    States per set (summed across ranks, float64): count, Σx (D,), Σxxᵀ (D, D). The embedder is held outside
    the module tree, so the metric's ``state_dict`` never contains network weights; it follows the metric's
    device. Reference statistics can be saved once (:meth:`save_reference`) and reloaded
    (``reference=path``); then ``target`` is ignored and never embedded.

    Args:
        sample_rate: rate of the audio passed to ``update``, Hz (the embedder resamples).
        embedder: an :class:`~stereosync.metrics.embedders.AudioEmbedder` (``ClapAudioEncoder`` mono, or
            ``StereoEmbedder`` for L/R). ``None``: ``preds``/``target`` already are (B, D) embeddings.
        feature_dim: D, required when ``embedder`` is None.
        reference: path of saved reference statistics (``.safetensors``) to compare against.
        **kwargs: ``torchmetrics.Metric`` options.

    Attributes:
        report_name: ``fad_<embedding>_<rate>_<channel handling>``, e.g. ``fad_clap-htsat-tiny-fusion_48khz_mono``.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(
        self,
        sample_rate: int,
        embedder: torch.nn.Module | None = None,
        feature_dim: int | None = None,
        reference: str | Path | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.sample_rate = sample_rate
        if embedder is None:
            if feature_dim is None:
                raise ValueError("FAD without an embedder needs feature_dim (inputs are embeddings)")
            dim, self.report_name = feature_dim, "fad_features"
        else:
            dim = embedder.dim
            rate = f"{embedder.sample_rate / 1000:g}khz"
            self.report_name = f"fad_{embedder.name}_{rate}_{embedder.channel_handling}"
            embedder.eval()
        hide_module(self, "embedder", embedder)
        self.feature_dim = dim
        for s in _SETS:
            self.add_state(f"{s}_n", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{s}_sum", torch.zeros(dim, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{s}_sumsq", torch.zeros(dim, dim, dtype=torch.float64), dist_reduce_fx="sum")
        self._reference: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        if reference is not None:
            self.load_reference(reference)

    def _apply(self, fn: Callable) -> torch.nn.Module:
        this = super()._apply(fn)
        if self.embedder is not None:  # follow the metric's device, never its dtype
            self.embedder.to(self.device)
        return this

    def _embed(self, audio: torch.Tensor) -> torch.Tensor:
        if self.embedder is None:
            if audio.dim() != 2 or audio.shape[1] != self.feature_dim:
                raise ValueError(f"expected (B, {self.feature_dim}) embeddings, got {tuple(audio.shape)}")
            return audio.detach()
        with torch.no_grad():
            feats = self.embedder(audio.to(module_device(self.embedder, audio.device)), self.sample_rate)
        return feats.detach()

    def _add(self, prefix: str, feats: torch.Tensor) -> None:
        n, s, ss = gaussian_sums(feats.to(self.device))
        setattr(self, f"{prefix}_n", getattr(self, f"{prefix}_n") + n)
        setattr(self, f"{prefix}_sum", getattr(self, f"{prefix}_sum") + s)
        setattr(self, f"{prefix}_sumsq", getattr(self, f"{prefix}_sumsq") + ss)

    def update(self, preds: torch.Tensor, target: torch.Tensor | None = None) -> None:
        """Add a batch.

        Args:
            preds: (B, C, T) generated audio at ``sample_rate`` (or (B, D) embeddings without an embedder).
            target: (B, C, T) reference audio (or (B, D) embeddings); ignored when reference statistics were
                loaded, required otherwise.
        """
        self._add("gen", self._embed(preds))
        if self._reference is None:
            if target is None:
                raise ValueError("FAD.update needs target unless reference statistics were loaded")
            self._add("ref", self._embed(target))

    def _reference_sums(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._reference is not None:
            return tuple(t.to(self.device) for t in self._reference)  # type: ignore[return-value]
        return self.ref_n, self.ref_sum, self.ref_sumsq

    def compute(self) -> torch.Tensor:
        """Fréchet distance (float64 scalar, squared embedding units); NaN with a warning below 2 clips per set."""
        ref = self._reference_sums()
        if float(self.gen_n) < 2 or float(ref[0]) < 2:
            warnings.warn(
                f"{self.report_name}: needs ≥ 2 generated and ≥ 2 reference clips, got "
                f"{float(self.gen_n):g} and {float(ref[0]):g}; returning NaN",
                stacklevel=2,
            )
            return torch.tensor(math.nan, dtype=torch.float64, device=self.device)
        mu_g, sig_g = mean_cov_from_sums(self.gen_n, self.gen_sum, self.gen_sumsq)
        mu_r, sig_r = mean_cov_from_sums(*ref)
        return frechet_distance(mu_g, sig_g, mu_r, sig_r)

    def save_reference(self, path: str | Path) -> None:
        """Save the reference-set statistics (summed over ranks) to a ``.safetensors`` file.

        Collective under DDP: every rank must call it; rank 0 writes.

        Args:
            path: output file; its metadata records ``report_name`` and ``feature_dim``.
        """
        from safetensors.torch import save_file

        with self.sync_context():
            sums = [t.detach().cpu().contiguous() for t in self._reference_sums()]
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
            return
        tensors = dict(zip(("count", "sum_x", "sum_xxt"), sums))
        save_file(tensors, str(path), metadata={"report_name": self.report_name, "feature_dim": str(self.feature_dim)})
        log.info("FAD: saved %s reference statistics of %d clips to %s", self.report_name, int(sums[0]), path)

    def load_reference(self, path: str | Path) -> None:
        """Use reference statistics saved by :meth:`save_reference`; they are fixed (not reset, not reduced).

        Raises:
            ValueError: if the file was made with another embedding, rate, channel handling or dimension.
        """
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in ("count", "sum_x", "sum_xxt")}
        if meta.get("report_name") != self.report_name or meta.get("feature_dim") != str(self.feature_dim):
            raise ValueError(
                f"{path} holds statistics for {meta.get('report_name')} (D={meta.get('feature_dim')}), "
                f"not {self.report_name} (D={self.feature_dim})"
            )
        self._reference = (tensors["count"].double(), tensors["sum_x"].double(), tensors["sum_xxt"].double())
