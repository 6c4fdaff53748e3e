"""Real-format model files made offline: every folder a real run loads, at real size, with random values.

``python -m stereosync.realformat --root DIR`` writes, under ``DIR``, the layout a user gets by downloading
(docs/real_run.md):

- ``stable-audio-open-1.0/``: ``model_config.json`` + ``model.safetensors`` (:mod:`.sao`);
- ``630k-audioset-fusion-best.pt``: the LAION-CLAP checkpoint (:mod:`.clap`);
- ``Depth-Anything-V2-Small-hf/``, ``rtdetr_r50vd/``, ``clip-vit-large-patch14/``: ``transformers`` snapshots
  (:mod:`.vision`).

What exists and is complete is kept, so the command is cheap to repeat. Tests and rehearsals share it; the
values are random, so nothing made here means anything beyond its format.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

PARTS = ("sao", "clap", "depth", "detector", "image_encoder")
SAO_FOLDER = "stable-audio-open-1.0"


def paths(root: str | Path) -> dict[str, Path]:
    """Where each part lives under ``root``."""
    from stereosync.realformat.clap import FUSION_FILE
    from stereosync.realformat.vision import SNAPSHOTS

    root = Path(root)
    out = {"sao": root / SAO_FOLDER, "clap": root / FUSION_FILE}
    out.update({role: root / s.folder for role, s in SNAPSHOTS.items()})
    return out


def extraction_models(where: dict[str, Path], **fields):
    """The :class:`~stereosync.extract.factory.ModelConfig` of the real-format extraction models at ``where``
    (:func:`paths` or :func:`make_all`), on the CPU in float32 unless ``fields`` say otherwise."""
    from stereosync.extract.factory import ModelConfig

    names = {
        "depth_model": "depth",
        "detector": "detector",
        "image_encoder": "image_encoder",
        "clap_checkpoint": "clap",
    }
    return ModelConfig(
        **{k: str(where[v]) for k, v in names.items()}, **{"device": "cpu", "precision": "float32", **fields}
    )


def make_all(root: str | Path, parts: tuple[str, ...] = PARTS, seed: int = 0) -> dict[str, Path]:
    """Make the chosen parts under ``root`` (kept where complete); returns every part's path."""
    from stereosync.realformat.clap import make_clap_checkpoint
    from stereosync.realformat.sao import make_sao_folder
    from stereosync.realformat.vision import SNAPSHOTS, make_snapshot

    where = paths(root)
    Path(root).mkdir(parents=True, exist_ok=True)
    for part in parts:
        if part == "sao":
            make_sao_folder(where["sao"], seed=seed)
        elif part == "clap":
            make_clap_checkpoint(where["clap"], seed=seed)
        elif part in SNAPSHOTS:
            make_snapshot(SNAPSHOTS[part], where[part], seed=seed)
        else:
            raise ValueError(f"unknown part {part!r}; parts: {', '.join(PARTS)}")
    return where
