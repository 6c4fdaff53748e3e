"""Object detectors: frames -> per-frame detections of the chosen classes, in pixels.

The default wraps any ``transformers`` object-detection model (``AutoModelForObjectDetection``; RT-DETR by
default, a DETR-family real-time detector that needs no timm backbone). Detections are
``supervision.Detections`` so they feed ByteTrack directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

from stereosync.extract._torch import batched, require

DEFAULT_DETECTOR = "PekingU/rtdetr_r50vd"


class Detector(Protocol):
    """``__call__(frames (B, H, W, 3) uint8, times (B,) s) -> list of B supervision.Detections``.

    Boxes are ``xyxy`` in pixels of the given frames, with ``confidence`` and ``class_id``; only the chosen
    classes are returned. ``times`` lets a temporal (or test) detector know where in the video it is.
    """

    name: str

    def __call__(self, frames: np.ndarray, times: np.ndarray) -> list: ...


def class_ids(id2label: dict[int, str], classes: Sequence[str]) -> list[int]:
    """Label ids of ``classes`` (case-insensitive); raises naming the labels the model knows."""
    lookup = {str(v).lower(): int(k) for k, v in id2label.items()}
    missing = [c for c in classes if c.lower() not in lookup]
    if missing:
        raise ValueError(f"classes {missing} are not labels of the detector; it knows {sorted(lookup)[:40]}...")
    return [lookup[c.lower()] for c in classes]


class TransformersDetector:
    """A ``transformers`` object detector.

    Args:
        model: e.g. ``RTDetrForObjectDetection`` or ``DetrForObjectDetection``.
        processor: its image processor (provides ``post_process_object_detection``).
        classes: label names to keep (default person).
        threshold: minimum score; ByteTrack needs low-score detections too (its second association), so
            keep this below its activation threshold.
        device: where it runs.
        batch_size: frames per forward pass.
        dtype: model dtype.
        name: recorded in the sample json.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        classes: Sequence[str] = ("person",),
        threshold: float = 0.1,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        dtype: torch.dtype = torch.float32,
        name: str | None = None,
    ):
        self.sv = require("supervision", "pip install 'stereosync[extract]' (supervision)")
        self.device, self.dtype, self.batch_size = torch.device(device), dtype, batch_size
        self.model = model.to(self.device, dtype).eval()
        self.processor, self.threshold = processor, threshold
        self.keep = np.array(class_ids(model.config.id2label, classes))
        self.name = name or getattr(model.config, "_name_or_path", "") or type(model).__name__

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = DEFAULT_DETECTOR,
        classes: Sequence[str] = ("person",),
        threshold: float = 0.1,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        dtype: torch.dtype = torch.float32,
    ) -> TransformersDetector:
        """Load a detector and its processor from a local folder (or a hub id when online)."""
        transformers = require("transformers", "pip install transformers")
        model = transformers.AutoModelForObjectDetection.from_pretrained(name_or_path)
        processor = transformers.AutoImageProcessor.from_pretrained(name_or_path)
        return cls(model, processor, classes, threshold, device, batch_size, dtype, name=str(name_or_path))

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray, times: np.ndarray) -> list:
        """(B, H, W, 3) uint8 -> B ``supervision.Detections`` (pixels) of the chosen classes."""
        images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # (B, 3, H, W)
        size = [tuple(frames.shape[1:3])]
        out = []
        for sl in batched(len(images), self.batch_size):
            inputs = self.processor(images=images[sl], return_tensors="pt", device=self.device)
            pixels = inputs["pixel_values"].to(self.device, self.dtype)
            extra = {k: v.to(self.device) for k, v in inputs.items() if k == "pixel_mask"}
            res = self.model(pixel_values=pixels, **extra)
            res = type(res)(**{k: (v.float() if torch.is_tensor(v) else v) for k, v in res.items()})
            for r in self.processor.post_process_object_detection(
                res, threshold=self.threshold, target_sizes=size * pixels.shape[0]
            ):
                labels = r["labels"].cpu().numpy()
                keep = np.isin(labels, self.keep)
                out.append(
                    self.sv.Detections(
                        xyxy=r["boxes"].cpu().numpy()[keep].astype(np.float32),
                        confidence=r["scores"].cpu().numpy()[keep].astype(np.float32),
                        class_id=labels[keep].astype(int),
                    )
                )
        return out
