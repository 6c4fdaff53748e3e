"""The v-objective of SAO (SPEC §2): x_t = α·x0 + σ·ε, target v = α·ε − σ·x0, α = cos(tπ/2), σ = sin(tπ/2)."""

from __future__ import annotations

import math
from typing import Literal

import torch

TimestepDistribution = Literal["logit_normal", "uniform"]


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SAO's schedule at diffusion time t ∈ [0, 1] (t = 1 is pure noise)."""
    return torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)


def sample_timesteps(
    batch_size: int,
    distribution: TimestepDistribution = "logit_normal",
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Training timesteps (B,): ``logit_normal`` t = sigmoid(N(0, 1)) (SAO, SPEC §2) or ``uniform`` U(0, 1).

    Logit-normal rarely visits the high-noise end where sampling starts (SPEC §10); ``uniform`` covers it.
    """
    if distribution == "logit_normal":
        return torch.sigmoid(torch.randn(batch_size, generator=generator, device=device))
    if distribution == "uniform":
        return torch.rand(batch_size, generator=generator, device=device)
    raise ValueError(f"unknown timestep distribution {distribution!r} (logit_normal, uniform)")


def shift_timesteps(t: torch.Tensor, shift: float) -> torch.Tensor:
    """Move timesteps towards noise: the noise-to-signal ratio σ/α is multiplied by ``shift`` (SD3's shift,
    here for SAO's cosine schedule): t' = (2/π)·atan(shift·tan(tπ/2)). ``shift`` 1 leaves t unchanged.

    The coarse structure a conditioning stream decides (where a sound sits, when it starts) is settled at high
    noise; with ``shift`` 3, uniform t lands in t' > 0.9 (σ/α > 6.3) 28 % of the time instead of 10 %.
    """
    if shift == 1.0:
        return t
    if shift <= 0:
        raise ValueError(f"timestep shift must be > 0, got {shift}")
    alpha, sigma = alpha_sigma(t)
    return (torch.atan2(shift * sigma, alpha) * (2 / math.pi)).clamp(0, 1)  # atan2: exact at t = 1


def noise_and_target(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Noised input x_t and v target for clean latents x0 (B, C, L), times t (B,), noise ε like x0."""
    alpha, sigma = (s[:, None, None] for s in alpha_sigma(t))
    return alpha * x0 + sigma * noise, alpha * noise - sigma * x0


def v_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the v prediction (scalar)."""
    return torch.nn.functional.mse_loss(pred.float(), target.float())
