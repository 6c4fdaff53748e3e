"""A Stable Audio Open 1.0 folder as downloaded (``model_config.json`` + ``model.safetensors``), random values.

The key names come from stable-audio-tools itself: the ``diffusion_cond`` wrapper built from the model config,
without the T5 prompt conditioner. The released file holds no T5 weights either: stable-audio-tools keeps the T5
encoder out of the state dict (``T5Conditioner`` stores it outside the module tree and its ``proj_out`` is an
identity at 768 → 768) and loads it from the hub; :class:`~stereosync.models.backbone.Backbone` drops that
conditioner. So the keys are ``model.model.*`` (the DiT), ``pretransform.model.*`` (the Oobleck VAE, weight-norm
``weight_g``/``weight_v``) and ``conditioner.conditioners.seconds_{start,total}.*``, all float32 as released.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import torch

from stereosync.models.backbone import strip_text_conditioning
from stereosync.models.model_config import load_model_config
from stereosync.realformat.safetensors_io import DTYPES, is_complete, read_header, write_streaming

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model_config.json"
PROJECT_KEYS = (("model", "diffusion", "prediction"),)
"""Keys the project adds to stable-audio-tools' config (absent from the released ``model_config.json``)."""


def released_config(model_config: str | dict = "sao_1_0") -> dict:
    """The model config as the model page ships it: the project's copy without the project's own keys."""
    config = copy.deepcopy(load_model_config(model_config))
    for path in PROJECT_KEYS:
        node = config
        for part in path[:-1]:
            node = node[part]
        node.pop(path[-1], None)
    return config


def _wrapper(model_config: str | dict, device: str | torch.device):
    from stable_audio_tools.models.diffusion import create_diffusion_cond_from_config

    config = strip_text_conditioning(load_model_config(model_config))
    with torch.device(device):
        return create_diffusion_cond_from_config(config)


def expected_tensors(model_config: str | dict = "sao_1_0") -> dict[str, tuple[tuple[int, ...], str]]:
    """Every tensor a weights file for ``model_config`` must hold: name → (shape, safetensors dtype).

    Built on the ``meta`` device: no memory, about a second for SAO 1.0.
    """
    state = _wrapper(model_config, "meta").state_dict()
    return {k: (tuple(v.shape), DTYPES[v.dtype]) for k, v in state.items()}


def folder_complete(folder: str | Path, model_config: str | dict = "sao_1_0") -> bool:
    """Whether ``folder`` holds both files, the weights whole and with exactly the expected keys and shapes."""
    folder = Path(folder)
    weights = folder / WEIGHTS_FILE
    if not ((folder / CONFIG_FILE).is_file() and is_complete(weights)):
        return False
    header, _ = read_header(weights)
    got = {k: (v.shape, v.dtype) for k, v in header.items()}
    return got == expected_tensors(model_config)


def make_sao_folder(folder: str | Path, model_config: str | dict = "sao_1_0", seed: int = 0) -> Path:
    """Write a downloaded-layout SAO folder with random weights, unless a complete one is there.

    Args:
        folder: output folder (created).
        model_config: shipped config name, json path or dict (``"sao_1_0"``: the real 1.21 B parameters,
            4.85 GB; peak memory about one copy of the model).
        seed: torch seed of the random initialisation.

    Returns:
        The folder.
    """
    folder = Path(folder)
    if folder_complete(folder, model_config):
        log.info("SAO folder %s is complete; kept", folder)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    wrapper = _wrapper(model_config, "cpu")
    state = wrapper.state_dict()
    size = write_streaming(folder / WEIGHTS_FILE, state.items())
    del state, wrapper
    (folder / CONFIG_FILE).write_text(json.dumps(released_config(model_config), indent=4))
    log.info("SAO folder %s: %s, %.2f GB", folder, WEIGHTS_FILE, size / 1e9)
    return folder


def small_sao_config(embed_dim: int = 64, depth: int = 2, heads: int = 2, vae_channels: int = 4) -> dict:
    """SAO 1.0's config at a small width: the same key layout, for tests whose logic does not depend on size.

    Args:
        embed_dim: DiT width (SAO: 1536). The conditioning widths stay SAO's (768 per number conditioner, their
            concatenation as the 1536-wide global conditioning).
        depth: DiT blocks (SAO: 24).
        heads: attention heads (SAO: 24).
        vae_channels: Oobleck base channels (SAO: 128).
    """
    config = copy.deepcopy(load_model_config("sao_1_0"))
    dit = config["model"]["diffusion"]["config"]
    dit.update(embed_dim=embed_dim, depth=depth, num_heads=heads)
    pretransform = config["model"]["pretransform"]["config"]
    for part in ("encoder", "decoder"):
        pretransform[part]["config"]["channels"] = vae_channels
    return config
