"""Small helpers shared by the model wrappers: device/dtype choice, lazy imports with install hints."""

from __future__ import annotations

import importlib
from typing import Any

import torch


def require(module: str, install: str) -> Any:
    """Import ``module`` or fail with an ImportError that says what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"'{module}' is needed here but not installed: {install}") from err


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> ``cuda:$LOCAL_RANK`` when a GPU is there, else CPU; anything else as given."""
    import os

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        return torch.device("cpu")
    return torch.device(device)


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """``"auto"``: float16 on CUDA, float32 elsewhere; or ``float32`` / ``float16`` / ``bfloat16``."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[precision]


def batched(n: int, size: int) -> list[slice]:
    """Slices covering ``range(n)`` in steps of ``size``."""
    return [slice(i, min(i + size, n)) for i in range(0, n, max(1, size))]
