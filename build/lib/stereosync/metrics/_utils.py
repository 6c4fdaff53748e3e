"""Small helpers shared by the metric classes."""

from __future__ import annotations

import math
import warnings

import torch


def hide_module(owner: torch.nn.Module, name: str, module: torch.nn.Module | None) -> None:
    """Attach ``module`` as a plain attribute, not a submodule, so it never enters ``owner.state_dict()``.

    Metrics must not carry a network's weights in their state (checkpoints stay small, and a metric never
    silently restores an embedder). The caller moves it with the metric (see ``Metric._apply`` overrides).
    """
    object.__setattr__(owner, name, module)


def module_device(module: torch.nn.Module, default: torch.device) -> torch.device:
    """Device of a module's first parameter or buffer; ``default`` when it has none."""
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return default


def ratio_or_nan(num: torch.Tensor, den: torch.Tensor, what: str) -> torch.Tensor:
    """num / den as float64, or NaN with a warning naming ``what`` when den is 0 (nothing was measured)."""
    if float(den) == 0:
        warnings.warn(f"{what}: nothing to score (no clips/events); returning NaN", stacklevel=3)
        return torch.tensor(math.nan, dtype=torch.float64, device=num.device)
    return num.double() / den.double()
