"""Shared parts of the tiny synthetic-domain vision models: conv blocks, input scaling, weight files.

The tiny detector (:mod:`.tiny_detector`) and depth model (:mod:`.tiny_depth`) are small CNNs trained on
frames of the synthetic generator (:mod:`.tiny_train`). Their weights ship as safetensors files whose
metadata holds the architecture (``{"kind": ..., "config": {...}}``), addressed like the tiny backbone:
``pkg://stereosync/weights/tiny_detector.safetensors``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def resolve_file(name: str | os.PathLike) -> Path:
    """A weights file path; ``pkg://<package>/<path>`` names a file shipped inside an installed package."""
    from stereosync.resources import resolve_path

    path = resolve_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"tiny vision weights: {name} is not a file ({path})")
    return path


def is_tiny_weights(name: str | os.PathLike | None) -> bool:
    """Whether a model name addresses a tiny-vision weights file (a ``.safetensors`` path or ``pkg://`` URL)."""
    return name is not None and str(name).endswith(".safetensors")


def conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def space_to_depth_stem(c_out: int, factor: int = 4) -> nn.Sequential:
    """Full-resolution pixels folded into channels (``factor`` x ``factor`` blocks, plus coordinates), then a 1x1
    and a 3x3 conv: every pixel is seen while all convolutions run at 1/``factor`` resolution (cheap on a CPU)."""
    return nn.Sequential(
        nn.Conv2d(3 * factor * factor + 2, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        conv_block(c_out, c_out),
    )


def fold(x: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3 * factor^2 + 2, H / factor, W / factor): pixel blocks as channels, plus coordinates."""
    return with_coords(F.pixel_unshuffle(x, factor))


def with_coords(x: torch.Tensor) -> torch.Tensor:
    """Append normalised row and column coordinates as two channels (perspective: size and depth follow the row)."""
    b, _, h, w = x.shape
    ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
    xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
    return torch.cat([x, ys, xs], dim=1)


def to_input(frames: np.ndarray | torch.Tensor, size: tuple[int, int], device, dtype) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB -> (B, 3, h, w) in [-1, 1] at the model's input ``size`` (antialiased resize)."""
    x = torch.as_tensor(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    x = x.to(device).permute(0, 3, 1, 2).to(dtype) / 127.5 - 1.0
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x


def save_model(model: nn.Module, kind: str, config: dict, path: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write ``model``'s weights with its architecture (and e.g. training facts in ``extra``) as metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"kind": kind, "config": json.dumps(config), "extra": json.dumps(extra or {})}
    save_file(state, str(path), metadata=meta)
    return path


def load_state(name: str | os.PathLike, kind: str) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """(architecture config, state dict, extra metadata) of a tiny-vision weights file of ``kind``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = resolve_file(name)
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if meta.get("kind") != kind:
        raise ValueError(f"{name}: holds a {meta.get('kind')!r} model, expected a tiny {kind!r} model")
    return json.loads(meta["config"]), load_file(str(path)), json.loads(meta.get("extra", "{}"))


def load_net(cls: type[nn.Module], name: str | os.PathLike, kind: str) -> nn.Module:
    """``cls(width, input_size)`` with the weights of a tiny-vision file of ``kind``, in eval mode."""
    config, state, _ = load_state(name, kind)
    net = cls(config["width"], tuple(config["input_size"]))
    net.load_state_dict(state)
    return net.eval()
