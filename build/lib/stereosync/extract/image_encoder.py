"""Image encoders for depth frames: normalised depth map (grey, replicated to RGB) -> global embedding.

Paper: EVA-CLIP ViT-g. Default here: a ``transformers`` CLIP vision tower (its projected ``image_embeds``);
any other ``transformers`` vision model works through its pooled output. Each wrapper is one seam.
"""

from __future__ import annotations

from typing import Protocol

import torch

from stereosync.extract._torch import batched, require

DEFAULT_IMAGE_ENCODER = "openai/clip-vit-large-patch14"


class ImageEncoder(Protocol):
    """``__call__(maps (N, h, w) float in [0, 1]) -> (N, D) float32`` on the CPU; ``dim`` = D."""

    name: str
    dim: int

    def __call__(self, maps: torch.Tensor) -> torch.Tensor: ...


class TransformersImageEncoder:
    """A ``transformers`` vision model as depth-frame encoder.

    The embedding is ``image_embeds`` when the model has a projection (CLIP), else ``pooler_output``,
    else the mean of the last hidden states.

    Args:
        model: e.g. ``CLIPVisionModelWithProjection``.
        processor: its image processor (resize, crop, mean/std).
        device: where it runs.
        batch_size: images per forward pass.
        dtype: model dtype.
        name: recorded in the sample json.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        dtype: torch.dtype = torch.float32,
        name: str | None = None,
    ):
        self.device, self.dtype, self.batch_size = torch.device(device), dtype, batch_size
        self.model = model.to(self.device, dtype).eval()
        self.processor = processor
        cfg = model.config
        self.dim = int(getattr(cfg, "projection_dim", 0) if hasattr(model, "visual_projection") else cfg.hidden_size)
        self.name = name or getattr(cfg, "_name_or_path", "") or type(model).__name__

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = DEFAULT_IMAGE_ENCODER,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        dtype: torch.dtype = torch.float32,
    ) -> TransformersImageEncoder:
        """Load the vision tower of a local folder or hub id (only the vision weights of a CLIP)."""
        transformers = require("transformers", "pip install transformers")
        cfg = transformers.AutoConfig.from_pretrained(name_or_path)
        if cfg.model_type in ("clip", "clip_vision_model"):
            model = transformers.CLIPVisionModelWithProjection.from_pretrained(name_or_path)
        elif cfg.model_type in ("siglip", "siglip_vision_model"):
            model = transformers.SiglipVisionModel.from_pretrained(name_or_path)
        else:
            model = transformers.AutoModel.from_pretrained(name_or_path)
        processor = transformers.AutoImageProcessor.from_pretrained(name_or_path)
        return cls(model, processor, device, batch_size, dtype, name=str(name_or_path))

    @torch.inference_mode()
    def __call__(self, maps: torch.Tensor) -> torch.Tensor:
        """(N, h, w) depth in [0, 1] -> (N, D) float32 embeddings."""
        rgb = maps.float().clamp(0, 1)[:, None].expand(-1, 3, -1, -1)  # (N, 3, h, w) grey replicated
        out = []
        for sl in batched(len(rgb), self.batch_size):
            pixels = self.processor(images=rgb[sl], do_rescale=False, return_tensors="pt", device=self.device)[
                "pixel_values"
            ]
            res = self.model(pixel_values=pixels.to(self.device, self.dtype))
            emb = getattr(res, "image_embeds", None)
            if emb is None:
                emb = (
                    res.pooler_output
                    if getattr(res, "pooler_output", None) is not None
                    else res.last_hidden_state.mean(dim=1)
                )
            out.append(emb.float().cpu())
        return torch.cat(out)


class OpenClipImageEncoder:
    """An ``open_clip`` image tower, e.g. the paper's EVA-CLIP ViT-g (``EVA01-g-14``).

    Args:
        model_name: open_clip architecture name.
        pretrained: a local checkpoint file (or an open_clip tag when online).
        device: where it runs.
        batch_size: images per forward pass.
        dtype: model dtype.
    """

    def __init__(
        self,
        model_name: str = "EVA01-g-14",
        pretrained: str | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        dtype: torch.dtype = torch.float32,
    ):
        open_clip = require("open_clip", "pip install open-clip-torch (and timm for EVA models)")
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
        self.device, self.dtype, self.batch_size = torch.device(device), dtype, batch_size
        self.model = model.to(self.device, dtype).eval()
        self.size = (
            model.visual.image_size if isinstance(model.visual.image_size, tuple) else (model.visual.image_size,) * 2
        )
        mean, std = getattr(model.visual, "image_mean", None), getattr(model.visual, "image_std", None)
        self.mean = torch.tensor(mean or open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(std or open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
        self.dim = int(model.visual.output_dim)
        self.name = f"open_clip:{model_name}:{pretrained}"

    @torch.inference_mode()
    def __call__(self, maps: torch.Tensor) -> torch.Tensor:
        """(N, h, w) depth in [0, 1] -> (N, D) float32 embeddings (resize to the tower's size, CLIP mean/std)."""
        out = []
        for sl in batched(len(maps), self.batch_size):
            x = (
                torch.nn.functional.interpolate(maps[sl, None].float(), size=self.size, mode="bicubic", antialias=True)
                .clamp(0, 1)
                .expand(-1, 3, -1, -1)
            )
            x = ((x - self.mean) / self.std).to(self.device, self.dtype)
            out.append(self.model.encode_image(x).float().cpu())
        return torch.cat(out)
