"""Tiny depth model for the synthetic domain: a small conv encoder-decoder, frames -> nearness maps.

It predicts the generator's ground-truth nearness (in [0, 1], near = 1: the room's floor and wall plus each
character's box at its distance) at the stored map size (36 x 64 for 144 x 256 frames), so no per-frame
min-max normalisation is needed. :class:`TinyDepth` is an extraction
:class:`~stereosync.extract.depth.DepthBackend`. Trained by
``python -m stereosync.extract.tiny_train --model depth`` (see docs/tiny_vision.md).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stereosync.extract._torch import batched
from stereosync.extract.tiny_nets import conv_block, fold, load_net, space_to_depth_stem, to_input, with_coords

TINY_DEPTH = "pkg://stereosync/weights/tiny_depth.safetensors"
KIND = "tiny_depth"


class TinyDepthNet(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> (B, H/4, W/4) nearness in [0, 1].

    Args:
        width: channels of the stride-4 stage (2x and 4x deeper down).
        input_size: (H, W) frames are resized to.
    """

    stride = 4

    def __init__(self, width: int = 24, input_size: tuple[int, int] = (144, 256)):
        super().__init__()
        self.config = {"width": width, "input_size": list(input_size)}
        self.input_size = tuple(input_size)
        c1, c2, c3 = width, 2 * width, 4 * width
        self.stem = space_to_depth_stem(c1)  # /4
        self.e2 = nn.Sequential(conv_block(c1, c2, 2), conv_block(c2, c2))  # /8
        self.e3 = nn.Sequential(conv_block(c2, c3, 2), conv_block(c3, c3), conv_block(c3, c3))  # /16
        self.d2 = conv_block(c3 + c2, c2)
        self.d1 = nn.Sequential(conv_block(c2 + c1 + 2, c1), nn.Conv2d(c1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.stem(fold(x, self.stride))
        f2 = self.e2(f1)
        f3 = self.e3(f2)
        u2 = self.d2(torch.cat([f2, F.interpolate(f3, size=f2.shape[-2:], mode="bilinear")], 1))
        u1 = torch.cat([f1, F.interpolate(u2, size=f1.shape[-2:], mode="bilinear")], 1)
        return torch.sigmoid(self.d1(with_coords(u1))[:, 0])


def load_tiny_depth(name: str | os.PathLike = TINY_DEPTH) -> TinyDepthNet:
    """The network with its weights from a tiny-depth safetensors file (or ``pkg://`` URL), in eval mode."""
    return load_net(TinyDepthNet, name, KIND)


class TinyDepth:
    """The tiny depth model as an extraction depth backend: ``(N, H, W, 3)`` uint8 -> ``(N, H/4, W/4)``.

    Args:
        net: the network (see :func:`load_tiny_depth`).
        device: where it runs.
        batch_size: frames per forward pass.
        dtype: model dtype.
        name: recorded in the sample json.
    """

    def __init__(
        self,
        net: TinyDepthNet,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        dtype: torch.dtype = torch.float32,
        name: str = "tiny_depth",
    ):
        self.device, self.dtype, self.batch_size = torch.device(device), dtype, batch_size
        self.net = net.to(self.device, dtype).eval()
        self.name = name

    @classmethod
    def from_file(
        cls,
        name: str | os.PathLike = TINY_DEPTH,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        dtype: torch.dtype = torch.float32,
    ) -> TinyDepth:
        """Load the shipped (or any trained) tiny depth weights."""
        return cls(load_tiny_depth(name), device, batch_size, dtype, name=str(name))

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) uint8 RGB -> (N, h, w) float32 in [0, 1], near = 1 (h, w = the model's input / 4)."""
        out = []
        for sl in batched(len(frames), self.batch_size):
            pred = self.net(to_input(frames[sl], self.net.input_size, self.device, self.dtype))
            out.append(pred.float().clamp(0, 1).cpu())
        return torch.cat(out) if out else torch.zeros(0, *(s // self.net.stride for s in self.net.input_size))
