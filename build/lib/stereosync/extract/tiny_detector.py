"""Tiny person detector for the synthetic domain: a small CNN with a centre heatmap and a box-size head.

CenterNet-style (Zhou et al. 2019) at output stride 4: per cell a person-centre score, the sub-cell offset of
the centre and the log width/height of the box. Peaks of the score map (3x3 local maxima above the
threshold) are the detections. :class:`TinyDetector` wraps it behind the extraction's
:class:`~stereosync.extract.detector.Detector` interface, so ByteTrack consumes it like any detector.
Trained by ``python -m stereosync.extract.tiny_train --model detector`` (see docs/tiny_vision.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stereosync.extract._torch import batched, require
from stereosync.extract.tiny_nets import conv_block, fold, load_net, space_to_depth_stem, to_input, with_coords

TINY_DETECTOR = "pkg://stereosync/weights/tiny_detector.safetensors"
KIND = "tiny_detector"
LABELS = ("person",)


class TinyDetectorNet(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> (B, 5, H/4, W/4): centre logit, offset x/y, log width/height (in cells).

    Args:
        width: channels at stride 4 (2x at stride 8, 4x at stride 16).
        input_size: (H, W) frames are resized to.
    """

    stride = 4

    def __init__(self, width: int = 24, input_size: tuple[int, int] = (144, 256)):
        super().__init__()
        self.config = {"width": width, "input_size": list(input_size)}
        self.input_size = tuple(input_size)
        c1, c2, c3 = width, 2 * width, 4 * width
        self.s2 = space_to_depth_stem(c1)  # /4
        self.s3 = nn.Sequential(conv_block(c1, c2, 2), conv_block(c2, c2))  # /8
        self.s4 = nn.Sequential(conv_block(c2, c3, 2), conv_block(c3, c3))  # /16
        self.l4, self.l3, self.l2 = nn.Conv2d(c3, c1, 1), nn.Conv2d(c2, c1, 1), nn.Conv2d(c1, c1, 1)
        self.head = nn.Sequential(conv_block(c1 + 2, c1), nn.Conv2d(c1, 5, 1))
        nn.init.constant_(self.head[-1].bias, 0.0)
        with torch.no_grad():
            self.head[-1].bias[0] = -2.19  # prior score 0.1 (CenterNet)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f2 = self.s2(fold(x, self.stride))
        f3 = self.s3(f2)
        f4 = self.s4(f3)
        p3 = self.l3(f3) + F.interpolate(self.l4(f4), size=f3.shape[-2:], mode="nearest")
        p2 = self.l2(f2) + F.interpolate(p3, size=f2.shape[-2:], mode="nearest")
        return self.head(with_coords(p2))


def decode_detections(
    out: torch.Tensor, threshold: float, max_detections: int = 10
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Raw output (B, 5, h, w) -> per image (boxes (n, 4) xyxy in cells, scores (n,)), best first."""
    heat = torch.sigmoid(out[:, 0].float())
    peaks = heat * (F.max_pool2d(heat[:, None], 3, 1, 1)[:, 0] == heat)
    b, h, w = heat.shape
    scores, idx = peaks.flatten(1).topk(min(max_detections, h * w), dim=1)
    res = []
    for i in range(b):
        keep = scores[i] >= threshold
        s, k = scores[i][keep], idx[i][keep]
        ys, xs = (k // w).float(), (k % w).float()
        reg = out[i, 1:, k // w, k % w].float()  # (4, n)
        cx, cy = xs + reg[0], ys + reg[1]
        bw, bh = reg[2].exp(), reg[3].exp()
        boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=1)
        res.append((boxes.cpu().numpy(), s.cpu().numpy()))
    return res


def load_tiny_detector(name: str | os.PathLike = TINY_DETECTOR) -> TinyDetectorNet:
    """The network with its weights from a tiny-detector safetensors file (or ``pkg://`` URL), in eval mode."""
    return load_net(TinyDetectorNet, name, KIND)


class TinyDetector:
    """The tiny detector as an extraction detector (``supervision.Detections`` in pixels, label ``person``).

    Args:
        net: the network (see :func:`load_tiny_detector`).
        classes: labels to keep; the tiny detector knows only ``person``.
        threshold: minimum centre score (keep it low: ByteTrack uses low-score boxes too).
        device: where it runs.
        batch_size: frames per forward pass.
        dtype: model dtype.
        name: recorded in the sample json.
    """

    def __init__(
        self,
        net: TinyDetectorNet,
        classes: Sequence[str] = ("person",),
        threshold: float = 0.1,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        dtype: torch.dtype = torch.float32,
        name: str = "tiny_detector",
    ):
        self.sv = require("supervision", "pip install 'stereosync[extract]' (supervision)")
        unknown = [c for c in classes if c.lower() not in LABELS]
        if unknown:
            raise ValueError(f"classes {unknown} are not labels of the tiny detector; it knows {list(LABELS)}")
        self.device, self.dtype, self.batch_size = torch.device(device), dtype, batch_size
        self.net = net.to(self.device, dtype).eval()
        self.threshold, self.name = threshold, name

    @classmethod
    def from_file(
        cls,
        name: str | os.PathLike = TINY_DETECTOR,
        classes: Sequence[str] = ("person",),
        threshold: float = 0.1,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        dtype: torch.dtype = torch.float32,
    ) -> TinyDetector:
        """Load the shipped (or any trained) tiny detector weights."""
        return cls(load_tiny_detector(name), classes, threshold, device, batch_size, dtype, name=str(name))

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray, times: np.ndarray) -> list:
        """(B, H, W, 3) uint8 -> B ``supervision.Detections`` (pixels of the given frames)."""
        h, w = frames.shape[1:3]
        ih, iw = self.net.input_size
        stride = self.net.stride
        scale = np.array([w / iw, h / ih, w / iw, h / ih], np.float32) * stride
        out = []
        for sl in batched(len(frames), self.batch_size):
            raw = self.net(to_input(frames[sl], self.net.input_size, self.device, self.dtype))
            for boxes, scores in decode_detections(raw, self.threshold):
                xyxy = np.clip(boxes * scale, 0, [w, h, w, h]).astype(np.float32)
                out.append(
                    self.sv.Detections(
                        xyxy=xyxy.reshape(-1, 4),
                        confidence=scores.astype(np.float32),
                        class_id=np.zeros(len(scores), int),
                    )
                )
        return out
