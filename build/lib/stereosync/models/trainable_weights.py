"""The trainable weights of a StereoSync run as one small safetensors file, and loading them back.

A Lightning checkpoint of StereoSync already holds only the trainable weights (ControlNet, stream projections);
it also carries optimiser state, RNG streams and counters. The exported file keeps the weights alone, in
``StereoSync.state_dict()`` names, in float32 (or bfloat16, half the size), with the recipe it was trained with
in its metadata::

    python -m stereosync.models.trainable_weights runs/shipped/full-seed0/version_0/checkpoints/last.ckpt \\
        src/stereosync/weights/tiny_full_2800.safetensors

``load_trainable(module, "pkg://stereosync/weights/tiny_full_2800.safetensors")`` loads such a file into a
module built from the same recipe (``configs/tiny.yaml``), strictly: every trainable key must be there.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

BACKBONE_PREFIX = "model.backbone."


def trainable_state(checkpoint_state: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """The non-backbone tensors of a ``StereoSync`` state dict (contiguous, on CPU), floats cast to ``dtype``.

    Raises:
        ValueError: the state holds no trainable tensors.
    """
    out = {}
    for key, value in checkpoint_state.items():
        if key.startswith(BACKBONE_PREFIX):
            continue
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        out[key] = value.contiguous()
    if not out:
        raise ValueError("the checkpoint holds no trainable weights (only backbone keys)")
    return out


def export_trainable(
    checkpoint: str | Path, out: str | Path, dtype: str = "float32", recipe: dict[str, Any] | None = None
) -> Path:
    """Write the trainable weights of ``checkpoint`` (a Lightning .ckpt) to ``out`` (.safetensors).

    Args:
        checkpoint: a StereoSync Lightning checkpoint.
        out: output file.
        dtype: ``bfloat16`` or ``float32`` for floating-point tensors.
        recipe: JSON-serialisable description stored in the file's metadata (e.g. configs and steps).
    """
    from safetensors.torch import save_file

    if dtype not in ("bfloat16", "float32"):
        raise ValueError(f"--dtype must be bfloat16 or float32, got {dtype!r}")
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    tensors = trainable_state(state["state_dict"], getattr(torch, dtype))
    meta = {"source": Path(checkpoint).name, "dtype": dtype, "global_step": str(state.get("global_step", ""))}
    if recipe is not None:
        meta["recipe"] = json.dumps(recipe)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=meta)
    log.info("wrote %d tensors (%.2f MB) to %s", len(tensors), out.stat().st_size / 1e6, out)
    return out


def load_trainable(module: torch.nn.Module, weights: str | Path) -> torch.nn.Module:
    """Load an exported file (a path or ``pkg://package/path``) into a ``StereoSync`` module, in place.

    Tensors are cast to the dtype of the module's own parameters (bf16 files → fp32 master weights).

    Raises:
        FileNotFoundError: the file does not exist.
        RuntimeError: the file does not match the module's trainable keys (another recipe).
    """
    from safetensors.torch import load_file

    from stereosync.resources import resolve_path

    path = resolve_path(weights)
    state = load_file(str(path))
    own = module.state_dict()
    for key, value in state.items():
        if key in own and value.is_floating_point():
            state[key] = value.to(own[key].dtype)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise RuntimeError(f"{path}: {err}") from err
    return module


def main(argv: Sequence[str] | None = None) -> Path:
    """Command line: ``python -m stereosync.models.trainable_weights CKPT OUT.safetensors [--dtype D]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="Lightning checkpoint of a StereoSync run")
    parser.add_argument("out", help="output .safetensors file")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--recipe", default=None, help="JSON text stored in the file's metadata")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    recipe = json.loads(args.recipe) if args.recipe else None
    return export_trainable(args.checkpoint, args.out, args.dtype, recipe)


if __name__ == "__main__":
    main()
