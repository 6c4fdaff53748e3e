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
import re
from collections.abc import Iterator
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

    The weights are made part by part as the file is written (:func:`_tensor_stream`): peak memory is the VAE
    (0.6 GB) or one DiT block with the DiT's embedders, not the 4.85-GB model.

    Args:
        folder: output folder (created).
        model_config: shipped config name, json path or dict (``"sao_1_0"``: the real 1.21 B parameters,
            4.85 GB).
        seed: torch seed of the random initialisation (each DiT block gets its own).

    Returns:
        The folder.
    """
    folder = Path(folder)
    if folder_complete(folder, model_config):
        log.info("SAO folder %s is complete; kept", folder)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    spec = expected_tensors(model_config)
    size = write_streaming(folder / WEIGHTS_FILE, _tensor_stream(model_config, spec, seed), spec=spec)
    (folder / CONFIG_FILE).write_text(json.dumps(released_config(model_config), indent=4))
    log.info("SAO folder %s: %s, %.2f GB", folder, WEIGHTS_FILE, size / 1e9)
    return folder


_BLOCK = re.compile(r"^model\.model\.transformer\.layers\.(\d+)\.(.+)$")


def _tensor_stream(model_config: str | dict, spec: dict, seed: int) -> Iterator[tuple[str, torch.Tensor]]:
    """The tensors of ``spec``, in its order, each initialised as stable-audio-tools initialises it.

    The DiT is built one block at a time (a one-block ``DiffusionTransformer`` per block, its block renamed),
    the VAE and the number conditioners whole; each part is dropped once its tensors are written.
    """
    config = strip_text_conditioning(load_model_config(model_config))
    cache: dict[str, object] = {}

    def part(key: str) -> dict[str, torch.Tensor]:
        if key not in cache:
            cache.clear()  # one part in memory at a time
            torch.manual_seed(seed * 1000 + _part_seed(key))
            cache[key] = _build_part(config, key)
        return cache[key]

    for name in spec:
        block = _BLOCK.match(name)
        if block:
            yield name, part(f"block{block[1]}")[f"model.model.transformer.layers.0.{block[2]}"]
        elif name.startswith("model.model."):
            yield name, part("dit")[name]
        else:
            yield name, part(name.split(".")[0])[name]


def _part_seed(key: str) -> int:
    """A stable small integer per part (Python's ``hash`` of a str changes between processes)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(key))


def _build_part(config: dict, key: str) -> dict[str, torch.Tensor]:
    """State dict of one part, with the wrapper's key prefixes: ``dit``/``block<i>`` (a one-block DiT, whose
    embedders serve ``dit``), ``pretransform`` or ``conditioner``."""
    from stable_audio_tools.models.conditioners import create_multi_conditioner_from_conditioning_config
    from stable_audio_tools.models.dit import DiffusionTransformer
    from stable_audio_tools.models.factory import create_pretransform_from_config

    model = config["model"]
    if key == "pretransform":
        module = create_pretransform_from_config(model["pretransform"], config["sample_rate"])
    elif key == "conditioner":
        module = create_multi_conditioner_from_conditioning_config(model["conditioning"])
    else:
        dit = dict(model["diffusion"]["config"], depth=1)
        objective = model["diffusion"].get("diffusion_objective", "v")
        state = DiffusionTransformer(diffusion_objective=objective, **dit).state_dict()
        return {f"model.model.{k}": v for k, v in state.items()}
    return {f"{key}.{k}": v for k, v in module.state_dict().items()}


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
