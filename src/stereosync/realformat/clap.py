"""A LAION-CLAP checkpoint in the released layout (``630k-audioset-fusion-best.pt``), random values.

Released checkpoints are ``torch.save`` dicts ``{"epoch": int, "state_dict": {"module.<key>": tensor}}``: the
``module.`` prefix comes from the DistributedDataParallel wrapper they were trained in, and laion_clap's
``load_state_dict`` strips it. Keys cover the HTSAT-tiny audio tower (``audio_branch.*``, with the ``aff_2d``
fusion layers in the fusion variants), the RoBERTa-base text tower (``text_branch.*``), both MLP heads
(``audio_transform``, ``audio_projection``, ``text_transform``, ``text_projection``) and the two logit scales.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import torch

log = logging.getLogger(__name__)

FUSION_FILE = "630k-audioset-fusion-best.pt"
NON_FUSION_FILE = "630k-audioset-best.pt"
FUSION_PREFIX = "audio_branch.patch_embed.fusion_model."
"""Keys only a fusion checkpoint has (laion_clap's ``aff_2d`` attention feature fusion)."""


def _roberta_base():
    """RoBERTa-base at its published size (``roberta-base``'s config.json values), random weights."""
    import transformers

    config = transformers.RobertaConfig(
        vocab_size=50265,
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    return transformers.RobertaModel(config)


@contextlib.contextmanager
def _offline_roberta(model_module) -> Iterator[None]:
    """laion_clap builds its text tower with ``RobertaModel.from_pretrained('roberta-base')`` (a download):
    answer that call with a random RoBERTa-base instead."""

    class _Offline:
        @staticmethod
        def from_pretrained(*_args, **_kwargs):
            return _roberta_base()

    original = model_module.RobertaModel
    model_module.RobertaModel = _Offline
    try:
        yield
    finally:
        model_module.RobertaModel = original


def build_clap(fusion: bool = True, text_branch: bool = True) -> torch.nn.Module:
    """laion_clap's ``CLAP`` (HTSAT-tiny) as released, random weights.

    Args:
        fusion: the fusion variant (``aff_2d``), as in ``*-fusion-best.pt``.
        text_branch: the RoBERTa-base text tower (125 M parameters) as released; ``False`` builds
            the project's one-layer stub instead (a small file for tests of the audio side).
    """
    from stereosync.clap import _CLAP_MODULE_ALIAS, _STUB_TEXT_CFG, _load_clap_module

    clap_module = _load_clap_module()
    cfg = clap_module.factory._MODEL_CONFIGS["HTSAT-tiny"]
    text_cfg = dict(cfg["text_cfg"], model_type="roberta") if text_branch else _STUB_TEXT_CFG
    with _offline_roberta(importlib.import_module(f"{_CLAP_MODULE_ALIAS}.model")):
        return clap_module.CLAP(
            embed_dim=cfg["embed_dim"],
            audio_cfg=cfg["audio_cfg"],
            text_cfg=text_cfg,
            enable_fusion=fusion,
            fusion_type="aff_2d" if fusion else "None",
        )


def make_clap_checkpoint(
    path: str | os.PathLike, fusion: bool = True, text_branch: bool = True, seed: int = 0, epoch: int = 45
) -> Path:
    """Write a released-layout checkpoint unless the file exists; returns its path.

    Args:
        path: output ``.pt`` file (written as ``.partial`` then renamed).
        fusion: fusion variant (the recipe's).
        text_branch: include the RoBERTa-base text tower, as released.
        seed: torch seed of the random values.
        epoch: stored under ``"epoch"`` as the released files do.
    """
    path = Path(path)
    if path.is_file():
        log.info("CLAP checkpoint %s exists; kept", path)
        return path
    torch.manual_seed(seed)
    model = build_clap(fusion, text_branch)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"epoch": epoch, "state_dict": state}, partial)
    os.replace(partial, path)
    log.info("CLAP checkpoint %s: %d tensors, %.2f GB", path, len(state), path.stat().st_size / 1e9)
    return path
