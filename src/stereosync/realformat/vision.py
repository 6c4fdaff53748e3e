"""``transformers`` snapshots of the extraction models, laid out as downloaded, with random weights.

Each model is built from its published ``config.json`` (the values are kept in ``configs/<family>/``, as on
the model page) and written with ``save_pretrained``, beside its ``preprocessor_config.json`` written by the
image processor's own ``save_pretrained``. The CLIP snapshot holds the whole ``CLIPModel`` (text and vision
towers, as published) but no tokenizer files: the project only reads the image processor, and the tokenizer's
vocabulary cannot be made up.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from stereosync.realformat.safetensors_io import is_complete

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """One published ``transformers`` model.

    Attributes:
        hub_id: the model page (``huggingface.co/<hub_id>``).
        family: folder of its published configs under ``stereosync/realformat/configs``.
        auto_class: the ``transformers`` class that builds it from its config.
        folder: the folder name ``huggingface-cli download --local-dir models/<folder>`` gives in the docs.
    """

    hub_id: str
    family: str
    auto_class: str
    folder: str


SNAPSHOTS = {
    "depth": Snapshot(
        "depth-anything/Depth-Anything-V2-Small-hf",
        "depth_anything_v2_small",
        "AutoModelForDepthEstimation",
        "Depth-Anything-V2-Small-hf",
    ),
    "detector": Snapshot("PekingU/rtdetr_r50vd", "rtdetr_r50vd", "AutoModelForObjectDetection", "rtdetr_r50vd"),
    "image_encoder": Snapshot(
        "openai/clip-vit-large-patch14", "clip_vit_large_patch14", "CLIPModel", "clip-vit-large-patch14"
    ),
}
"""The defaults of :class:`~stereosync.extract.factory.ModelConfig` (``DEFAULT_DEPTH_MODEL`` ...) by role."""

FILES = ("config.json", "preprocessor_config.json", "model.safetensors")


def published_configs(family: str) -> Path:
    """The folder holding a family's published ``config.json`` and ``preprocessor_config.json``."""
    return Path(str(resources.files("stereosync.realformat") / "configs" / family))


def build_model(snapshot: Snapshot, seed: int = 0) -> torch.nn.Module:
    """The model of ``snapshot`` from its published config, with random weights (real size)."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(published_configs(snapshot.family))
    cls = getattr(transformers, snapshot.auto_class)
    torch.manual_seed(seed)
    if snapshot.auto_class.startswith("Auto"):
        return cls.from_config(config)
    return cls(config)


def snapshot_complete(folder: str | Path) -> bool:
    """Whether ``folder`` holds the three files, the weights whole."""
    folder = Path(folder)
    return all((folder / f).is_file() for f in FILES) and is_complete(folder / "model.safetensors")


def make_snapshot(snapshot: Snapshot, folder: str | Path, seed: int = 0) -> Path:
    """Write one snapshot folder unless a complete one is there; returns the folder."""
    import transformers

    folder = Path(folder)
    if snapshot_complete(folder):
        log.info("%s: %s is complete; kept", snapshot.hub_id, folder)
        return folder
    model = build_model(snapshot, seed)
    with tempfile.TemporaryDirectory(dir=folder.parent if folder.parent.exists() else None) as tmp:
        model.save_pretrained(tmp)  # safetensors by default
        processor = transformers.AutoImageProcessor.from_pretrained(published_configs(snapshot.family))
        processor.save_pretrained(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        shutil.move(tmp, folder)
        folder.chmod(0o755)  # mkdtemp's 0700 would hide the folder from other users of a shared cache
        Path(tmp).mkdir()  # TemporaryDirectory removes it on exit
    log.info("%s: wrote %s (%.1f M parameters)", snapshot.hub_id, folder, count_parameters(model) / 1e6)
    return folder


def count_parameters(model: torch.nn.Module) -> int:
    """Parameters of a model (buffers excluded), as model cards count them."""
    return sum(p.numel() for p in model.parameters())
