"""What a StereoSync checkpoint holds: the trainable weights only, optionally stored in bf16, plus RNG state.

The frozen backbone never enters a checkpoint (it reloads from its own weights file); bf16-stored weights
(``checkpoint_dtype``) are upcast to the parameters' dtype on loading (fp32 master weights).
"""

from __future__ import annotations

from typing import Any

import torch

from stereosync.rng import rng_state

BACKBONE_PREFIX = "model.backbone."


def save_trainable(checkpoint: dict[str, Any], backbone_frozen: bool, dtype: str, nonfinite_total: int) -> None:
    """Turn Lightning's checkpoint dict into ours, in place (``on_save_checkpoint``)."""
    checkpoint["stereosync_rng"] = rng_state()
    checkpoint["stereosync_guard"] = {"nonfinite_total": nonfinite_total}
    state = checkpoint["state_dict"]
    if backbone_frozen:
        for key in [k for k in state if k.startswith(BACKBONE_PREFIX)]:
            del state[key]
    if dtype != "float32":
        stored = getattr(torch, dtype)
        for key, value in state.items():
            if value.is_floating_point() and not key.startswith(BACKBONE_PREFIX):
                state[key] = value.to(stored)


def upcast_stored_weights(checkpoint: dict[str, Any], own: dict[str, torch.Tensor]) -> None:
    """bf16-stored weights back to the dtype of the module's own state (``on_load_checkpoint``), in place."""
    state = checkpoint.get("state_dict", {})
    for key, value in state.items():
        if key in own and value.is_floating_point() and value.dtype != own[key].dtype:
            state[key] = value.to(own[key].dtype)


def check_trainable_keys(result: Any, backbone_frozen: bool) -> None:
    """Raise when a loaded state misses trainable keys or has unexpected ones (the frozen backbone may be absent).

    Args:
        result: what ``nn.Module.load_state_dict(..., strict=False)`` returned.
        backbone_frozen: backbone keys are expected to be missing.
    """
    missing = [k for k in result.missing_keys if not (k.startswith(BACKBONE_PREFIX) and backbone_frozen)]
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f"checkpoint does not match the model: missing trainable keys {missing[:8]}, "
            f"unexpected keys {result.unexpected_keys[:8]} — was it trained with other "
            f"streams switched on or off?"
        )
