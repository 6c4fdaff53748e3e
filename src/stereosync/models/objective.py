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


def noise_and_target(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Noised input x_t and v target for clean latents x0 (B, C, L), times t (B,), noise ε like x0."""
    alpha, sigma = (s[:, None, None] for s in alpha_sigma(t))
    return alpha * x0 + sigma * noise, alpha * noise - sigma * x0


def v_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the v prediction (scalar)."""
    return torch.nn.functional.mse_loss(pred.float(), target.float())
