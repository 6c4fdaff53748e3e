"""The v-objective of SAO: x_t = α·x0 + σ·ε, target v = α·ε − σ·x0, α = cos(tπ/2), σ = sin(tπ/2).

A backbone may instead *parameterise* its output as x0 (``Backbone.prediction == "x0"``): its network output F is
the clean-latent estimate and v̂ = (α·x_t − F)/σ, so samplers and losses still see v. The reason is rank: a DiT
whose width is below its latent channels (the tiny one: 128 < 288) outputs, per latent frame, a vector in a
128-dim subspace. A v prediction must then leave the noise outside that subspace in place (x0 = α·x_t − σ·v keeps
α·x_t there) and generated audio keeps a noise floor; an x0 prediction outputs zero there instead.
"""

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
    """Training timesteps (B,): ``logit_normal`` t = sigmoid(N(0, 1)) (SAO) or ``uniform`` U(0, 1).

    Logit-normal rarely visits the high-noise end where sampling starts (docs/design.md#departures); ``uniform``
    covers it.
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


Prediction = Literal["v", "x0"]
SIGMA_FLOOR = 1e-4  # σ below this is treated as this in the x0 → v conversion (t = 0 exactly)


def v_from_x0(x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """v implied by an x0 estimate (B, C, L) of noisy latents x_t at times t (B,): v = (α·x_t − x0)/σ."""
    alpha, sigma = (s[:, None, None] for s in alpha_sigma(t.to(x_t.dtype)))
    return (alpha * x_t - x0) / sigma.clamp(min=SIGMA_FLOOR)


def loss_weights(t: torch.Tensor, prediction: Prediction = "v", x0_weight_cap: float = 5.0) -> torch.Tensor | None:
    """Per-sample weights (B,) of the v-MSE, or None (all 1) for a v-parameterised model.

    For an x0-parameterised model the v error is the x0 error over σ, so plain v-MSE weighs x0 errors by 1/σ²,
    which explodes as t → 0. The weight ``min(1, cap·σ²)`` turns that into x0-MSE weighted by ``min(1/σ², cap)``
    (1/σ² = SNR + 1, capped as in Min-SNR weighting, Hang et al. 2023): identical to the v-loss wherever
    σ² ≥ 1/cap (the high-noise steps that decide the coarse structure), bounded below that.
    """
    if prediction == "v":
        return None
    if prediction != "x0":
        raise ValueError(f"unknown prediction {prediction!r} (v, x0)")
    sigma = alpha_sigma(t)[1]
    return (x0_weight_cap * sigma.square()).clamp(max=1.0)


def check_pan_loss_weight(pan_loss_weight: float, pretransform: torch.nn.Module | None) -> None:
    """A pan-channel loss weight other than 1 needs a latent with pan channels (parametric stereo), and is ≥ 0."""
    if pan_loss_weight != 1.0 and not hasattr(pretransform, "channel_weights"):
        raise ValueError(
            f"pan_loss_weight={pan_loss_weight} needs a latent with pan channels (model config pretransform "
            f"type parametric_stereo); this backbone's pretransform is {type(pretransform).__name__}"
        )
    if pan_loss_weight < 0:
        raise ValueError(f"pan_loss_weight must be ≥ 0, got {pan_loss_weight}")


def v_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None = None,
    channel_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared error of the v prediction (B, C, L) → scalar.

    ``weights`` (B,) scale each sample's error; ``channel_weights`` (C,) or per sample (B, C) scale each latent
    channel's squared error before the mean (e.g. the pan channels of a parametric-stereo latent).
    """
    if weights is None and channel_weights is None:
        return torch.nn.functional.mse_loss(pred.float(), target.float())
    sq = (pred.float() - target.float()).square()
    if channel_weights is not None:
        cw = channel_weights.to(sq)
        sq = sq * (cw[:, :, None] if cw.dim() == 2 else cw[None, :, None])
    err = sq.flatten(1).mean(1)
    return (err * weights.float()).mean() if weights is not None else err.mean()


def pan_channel_weights(
    pretransform: torch.nn.Module, t: torch.Tensor, pan_weight: float, from_t: float = 0.0
) -> torch.Tensor | None:
    """Per-sample channel weights (B, C) of a parametric-stereo latent's loss: ``pan_weight`` on the pan channels
    of samples at diffusion time t ≥ ``from_t``, 1 elsewhere; None when that is 1 everywhere."""
    if pan_weight == 1.0:
        return None
    if not 0.0 <= from_t < 1.0:
        raise ValueError(f"pan_loss_from_t must be in [0, 1), got {from_t}")
    high = (t >= from_t).to(torch.float32)[:, None]  # (B, 1)
    pan = pretransform.channel_weights(pan_weight).to(t.device)[None, :]  # (1, C): 1 or pan_weight
    return 1.0 + high * (pan - 1.0)
