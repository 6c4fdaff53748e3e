"""Backbone model configs: reading a stable-audio-tools ``diffusion_cond`` config and checking its keys.

Every key that changes what is built or trained must be present, and every key must be known: a misspelt
``prediction`` would otherwise train a v-model without a word. Errors name the key and the config.
"""

from __future__ import annotations

import copy
import json
import os
from importlib import resources
from pathlib import Path

PREDICTIONS = ("v", "x0")
"""What the DiT's output means (``model.diffusion.prediction``): see :mod:`stereosync.models.objective`."""

_KNOWN = {
    "": {"model_type", "sample_size", "sample_rate", "audio_channels", "model", "training"},
    "model": {"pretransform", "conditioning", "diffusion", "io_channels"},
    "model.diffusion": {
        "type",
        "config",
        "prediction",
        "cross_attention_cond_ids",
        "global_cond_ids",
        "input_concat_ids",
        "prepend_cond_ids",
        "diffusion_objective",
        "distribution_shift_options",
    },
    "model.pretransform": {"type", "config", "iterate_batch", "scale", "model_half"},
    "model.conditioning": {"configs", "cond_dim", "default_keys"},
}
_REQUIRED = {
    "": ("model_type", "sample_rate", "audio_channels", "model"),
    "model": ("pretransform", "conditioning", "diffusion", "io_channels"),
    "model.diffusion": ("type", "config", "prediction", "cross_attention_cond_ids", "global_cond_ids"),
    "model.pretransform": ("type", "config"),
    "model.conditioning": ("configs", "cond_dim"),
}


class ModelConfigError(ValueError):
    """A backbone model config with a missing, unknown or invalid key; the message names both."""


def load_model_config(model_config: str | os.PathLike | dict) -> dict:
    """Read and check a stable-audio-tools model config.

    Args:
        model_config: a dict, a path to a json file, or the name of a shipped config (``"sao_1_0"``, ``"tiny"``,
            ``"tiny_ps"``).

    Raises:
        FileNotFoundError: no such file or shipped config.
        ModelConfigError: see :func:`validate_model_config`.
    """
    if isinstance(model_config, dict):
        return validate_model_config(copy.deepcopy(model_config), "the model config dict")
    path = Path(model_config)
    if not path.suffix and not path.exists():
        folder = resources.files("stereosync") / "model_configs"
        shipped = folder / f"{model_config}.json"
        if not shipped.is_file():
            names = sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))
            raise FileNotFoundError(
                f"model config '{model_config}' is neither a file nor a shipped config (shipped: {', '.join(names)})"
            )
        return validate_model_config(json.loads(shipped.read_text()), f"shipped model config {shipped.name}")
    if not path.is_file():
        raise FileNotFoundError(f"model config file not found: {path}")
    return validate_model_config(json.loads(path.read_text()), f"model config {path}")


def validate_model_config(config: dict, source: str) -> dict:
    """Check ``config`` (returned unchanged): required keys present, no unknown key, known values.

    Args:
        config: a stable-audio-tools ``diffusion_cond`` model config.
        source: where it came from, for the messages (e.g. ``model config configs/my.json``).
    """
    if config.get("model_type") != "diffusion_cond":
        raise ModelConfigError(f"{source}: model_type must be 'diffusion_cond', got {config.get('model_type')!r}")
    for section, known in _KNOWN.items():
        node = config
        for part in filter(None, section.split(".")):
            node = node[part]
        if not isinstance(node, dict):
            raise ModelConfigError(f"{source}: '{section}' must be an object, got {type(node).__name__}")
        where = f"{section}." if section else ""
        missing = [k for k in _REQUIRED[section] if k not in node]
        if missing:
            raise ModelConfigError(f"{source}: missing key {', '.join(where + k for k in missing)}")
        unknown = sorted(set(node) - known)
        if unknown:
            raise ModelConfigError(
                f"{source}: unknown key {', '.join(where + k for k in unknown)} (known: {', '.join(sorted(known))})"
            )
    diffusion = config["model"]["diffusion"]
    if diffusion["prediction"] not in PREDICTIONS:
        raise ModelConfigError(
            f"{source}: model.diffusion.prediction must be one of {PREDICTIONS}, got {diffusion['prediction']!r}"
        )
    if diffusion.get("diffusion_objective", "v") != "v":
        raise ModelConfigError(
            f"{source}: model.diffusion.diffusion_objective {diffusion['diffusion_objective']!r} is not supported "
            "(the sampler and the loss are v-diffusion; set model.diffusion.prediction instead)"
        )
    for key in ("sample_rate", "audio_channels"):
        if not isinstance(config[key], int) or config[key] <= 0:
            raise ModelConfigError(f"{source}: {key} must be a positive integer, got {config[key]!r}")
    return config
