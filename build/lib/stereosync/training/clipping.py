"""Gradient-norm clipping with the norm the non-finite guard already computed (one norm pass per step).

With a fused torch Adam/AdamW the clipping is done by the optimiser step itself: its ``grad_scale`` input
divides each gradient as the kernel reads it, so no extra pass over the gradients is made. A step whose norm
is under the threshold touches no gradient (torch would multiply every gradient by 1.0).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch


def _drop_grad_scale(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """Step post-hook: the clipping scale set for one step must not leak into the next."""
    optimizer.__dict__.pop("grad_scale", None)


def can_clip_in_optimizer(optimizer: torch.optim.Optimizer, trainer: pl.Trainer | None) -> bool:
    """A fused torch Adam/AdamW, and no GradScaler (which owns the optimiser's grad_scale input)."""
    if not isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW):
        return False
    if not all(group.get("fused") for group in optimizer.param_groups):
        return False
    plugin = trainer.precision_plugin if trainer is not None else None
    return getattr(plugin, "scaler", None) is None


def clip_with_norm(
    optimizer: torch.optim.Optimizer,
    norm: torch.Tensor | None,
    gradient_clip_val: float | None,
    gradient_clip_algorithm: str | None,
    trainer: pl.Trainer | None,
    in_optimizer: bool = True,
) -> bool:
    """Clip the gradients to ``gradient_clip_val`` given their total ``norm``; False: the caller must clip.

    Handled here only where every rank holds the whole, already reduced gradient (single device, DDP; not
    FSDP/DeepSpeed shards) and the algorithm is "norm"; no trainer (a benchmark driving the hooks by hand)
    means one process. ``in_optimizer`` uses fused AdamW's ``grad_scale`` where :func:`can_clip_in_optimizer`.
    """
    strategy = trainer.strategy if trainer is not None else None
    local = strategy is None or isinstance(strategy, pl.strategies.SingleDeviceStrategy | pl.strategies.DDPStrategy)
    if norm is None or not local or not gradient_clip_val or gradient_clip_algorithm not in (None, "norm"):
        return False
    coef = float(gradient_clip_val) / (float(norm) + 1e-6)  # torch's clip_grads_with_norm_ coefficient
    if coef >= 1.0:
        return True
    if in_optimizer and can_clip_in_optimizer(optimizer, trainer):
        # fused Adam(W) divides each gradient by grad_scale as it reads it: the clipped update, no extra pass
        optimizer.grad_scale = torch.full((), 1.0 / coef, dtype=torch.float32, device=norm.device)
        if not getattr(optimizer, "_stereosync_grad_scale_hook", False):
            optimizer.register_step_post_hook(_drop_grad_scale)
            optimizer._stereosync_grad_scale_hook = True
        return True
    params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    torch._foreach_mul_([p.grad for p in params], coef)
    return True
