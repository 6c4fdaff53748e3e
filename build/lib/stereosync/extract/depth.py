"""Depth backends: RGB frames -> per-frame normalised depth maps (near = 1), plus the shared helpers.

The default backend runs any ``transformers`` depth-estimation model (Depth Anything V2 by default),
from a local folder or, when online, a hub id. RollingDepth (the paper's choice) lives in
:mod:`.rollingdepth`. Every backend returns maps at its own resolution; :func:`resize_maps` makes the
small maps stored in the shards and the image encoder embeds the full-resolution ones.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from stereosync.extract._torch import batched, require

log = logging.getLogger(__name__)

DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
_METRIC_MODEL_TYPES = ("zoedepth", "glpn")  # heads that predict metric depth (far = large)


class DepthBackend(Protocol):
    """RGB frames of one video, in time order -> depth maps.

    ``__call__(frames (N, H, W, 3) uint8) -> (N, h, w) float32`` on the CPU, each frame normalised to
    [0, 1] with near = 1. Frames are consecutive, so a video model (RollingDepth) may use the context.
    """

    name: str

    def __call__(self, frames: np.ndarray) -> torch.Tensor: ...


def normalise_per_frame(maps: torch.Tensor, near_is_large: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """Min-max normalise each map to [0, 1], near = 1.

    Args:
        maps: (N, h, w) depth (``near_is_large=False``) or disparity-like values (``True``).
        near_is_large: whether larger raw values are nearer (relative depth models predict disparity).
        eps: a flat map (max = min) becomes all zeros instead of dividing by zero.
    """
    x = maps.float()
    if not near_is_large:
        x = -x
    lo = x.flatten(1).min(dim=1).values[:, None, None]
    hi = x.flatten(1).max(dim=1).values[:, None, None]
    return ((x - lo) / (hi - lo).clamp(min=eps)).clamp(0, 1)


def resize_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, h, w) -> (N, H, W) with antialiased bilinear resampling (the stored small ``depth`` maps)."""
    return F.interpolate(maps[:, None].float(), size=size, mode="bilinear", antialias=True, align_corners=False)[
        :, 0
    ].clamp(0, 1)


class TransformersDepth:
    """A ``transformers`` depth-estimation model (``AutoModelForDepthEstimation``) as a depth backend.

    Args:
        model: the model (e.g. ``DepthAnythingForDepthEstimation``), any weights.
        processor: its image processor.
        device: where the model runs.
        batch_size: frames per forward pass.
        dtype: model dtype (float16 on a GPU halves memory and time).
        near_is_large: raw output orientation; ``None`` decides from the config (relative models predict
            disparity, metric ones depth).
        name: recorded in the sample json.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
        dtype: torch.dtype = torch.float32,
        near_is_large: bool | None = None,
        name: str | None = None,
    ):
        self.device, self.dtype, self.batch_size = torch.device(device), dtype, batch_size
        self.model = model.to(self.device, dtype).eval()
        self.processor = processor
        cfg = model.config
        if near_is_large is None:
            metric = (
                getattr(cfg, "depth_estimation_type", "relative") == "metric" or cfg.model_type in _METRIC_MODEL_TYPES
            )
            near_is_large = not metric
        self.near_is_large = near_is_large
        self.name = name or getattr(cfg, "_name_or_path", "") or type(model).__name__

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = DEFAULT_DEPTH_MODEL,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
        dtype: torch.dtype = torch.float32,
    ) -> TransformersDepth:
        """Load a depth model and its processor from a local folder (or a hub id when online)."""
        transformers = require("transformers", "pip install transformers")
        model = transformers.AutoModelForDepthEstimation.from_pretrained(name_or_path)
        processor = transformers.AutoImageProcessor.from_pretrained(name_or_path)
        return cls(model, processor, device, batch_size, dtype, name=str(name_or_path))

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) uint8 RGB -> (N, h, w) float32 in [0, 1], near = 1, at the model's output size."""
        images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # (N, 3, H, W)
        out = []
        for sl in batched(len(images), self.batch_size):
            inputs = self.processor(images=images[sl], return_tensors="pt", device=self.device)
            pred = self.model(pixel_values=inputs["pixel_values"].to(self.device, self.dtype)).predicted_depth
            out.append(normalise_per_frame(pred.float(), self.near_is_large).cpu())  # (B, h, w)
        return torch.cat(out)
