"""Export a pretrained (unfrozen) backbone from a Lightning checkpoint to SAO's safetensors key layout.

``configs/tiny_pretrain.yaml`` trains the tiny DiT and its number conditioners (``Backbone(frozen=False)``); this
writes them as stable-audio-tools' ``ConditionedDiffusionModelWrapper`` names them in SAO's ``model.safetensors``
(``model.model.<DiT keys>``, ``conditioner.<keys>``), so ``Backbone(weights=OUT)`` loads the file like SAO's::

    python -m stereosync.models.export_backbone runs/tiny_pretrain/checkpoints/last.ckpt OUT.safetensors

A backbone pretrained with the CLAP stream (``--model.clap=…ClapEncoder``) learned to read the token of its CLAP
projection; ``--clap FILE`` also writes that projection (``proj.weight``, ``proj.bias``), the start for
``ClapEncoder(weights=FILE)`` in the recipe.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import torch

log = logging.getLogger(__name__)

CKPT_PREFIXES = {"model.backbone.dit.": "model.model.", "model.backbone.conditioner.": "conditioner."}
"""Lightning (``StereoSync``) key prefix → SAO ``model.safetensors`` key prefix."""


def backbone_state(checkpoint_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The backbone tensors of a ``StereoSync`` state dict, renamed to SAO's layout (contiguous, on CPU).

    Raises:
        ValueError: the state holds no backbone tensors (a checkpoint of a frozen backbone never does).
    """
    out = {}
    for key, value in checkpoint_state.items():
        for src, dst in CKPT_PREFIXES.items():
            if key.startswith(src):
                out[dst + key[len(src) :]] = value.detach().cpu().contiguous()
    if not out:
        raise ValueError(
            "the checkpoint holds no backbone weights: only a pretraining run (Backbone frozen: false) saves them"
        )
    return out


CLAP_PREFIX = "model.clap."
"""Lightning key prefix of the CLAP projection (``ClapEncoder``)."""


def clap_state(checkpoint_state: dict[str, torch.Tensor], checkpoint: str | Path) -> dict[str, torch.Tensor]:
    """The CLAP projection's tensors of a ``StereoSync`` state dict, as ``ClapEncoder.proj`` names them.

    Raises:
        ValueError: naming the checkpoint, when it was trained without a CLAP stream.
    """
    out = {
        key[len(CLAP_PREFIX) :]: value.detach().cpu().contiguous()
        for key, value in checkpoint_state.items()
        if key.startswith(CLAP_PREFIX)
    }
    if not out:
        raise ValueError(f"{checkpoint}: the run has no CLAP projection (it was trained without --model.clap)")
    return out


def _save(tensors: dict[str, torch.Tensor], out: str | Path, checkpoint: str | Path, layout: str) -> Path:
    from safetensors.torch import save_file

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata={"source": Path(checkpoint).name, "layout": layout})
    log.info("wrote %d tensors (%.2f MB) to %s", len(tensors), out.stat().st_size / 1e6, out)
    return out


def export_backbone(checkpoint: str | Path, out: str | Path, clap_out: str | Path | None = None) -> Path:
    """Write the backbone of ``checkpoint`` (a Lightning .ckpt) to ``out`` (.safetensors); returns ``out``.

    With ``clap_out``, also write the run's CLAP projection there (checked before anything is written).
    """
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    tensors = backbone_state(state)
    clap = clap_state(state, checkpoint) if clap_out is not None else None
    _save(tensors, out, checkpoint, "stable-audio-tools")
    if clap is not None:
        _save(clap, clap_out, checkpoint, "stereosync.ClapEncoder")
    return Path(out)


def main(argv: Sequence[str] | None = None) -> Path:
    """Command line: ``python -m stereosync.models.export_backbone CKPT OUT.safetensors``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="Lightning checkpoint of a pretraining run (configs/tiny_pretrain.yaml)")
    parser.add_argument("out", help="output .safetensors file")
    parser.add_argument("--clap", help="also write the run's CLAP projection to this .safetensors file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return export_backbone(args.checkpoint, args.out, args.clap)


if __name__ == "__main__":
    main()
