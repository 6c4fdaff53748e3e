"""The v-objective's training timesteps: distributions and the noise shift."""

from __future__ import annotations

import math

import pytest
import torch

from stereosync.models.objective import alpha_sigma, sample_timesteps, shift_timesteps


def test_shift_multiplies_the_noise_to_signal_ratio():
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    shifted = shift_timesteps(t, 3.0)
    a, s = alpha_sigma(t)
    a2, s2 = alpha_sigma(shifted)
    torch.testing.assert_close(s2 / a2, 3.0 * s / a)
    assert torch.equal(shift_timesteps(t, 1.0), t)
    assert shift_timesteps(torch.tensor([0.0, 1.0]), 3.0).tolist() == pytest.approx([0.0, 1.0])
    with pytest.raises(ValueError, match="> 0"):
        shift_timesteps(t, 0.0)


def test_shifted_uniform_timesteps_spend_more_training_at_high_noise():
    g = torch.Generator().manual_seed(0)
    t = sample_timesteps(200_000, "uniform", generator=g)
    high = (shift_timesteps(t, 3.0) > 0.9).float().mean().item()
    # P(t' > 0.9) = P(tan(tπ/2) > tan(0.45π)/3) = 1 - (2/π)·atan(tan(0.45π)/3)
    expected = 1 - 2 / math.pi * math.atan(math.tan(0.45 * math.pi) / 3)
    assert high == pytest.approx(expected, abs=0.005) and expected > 0.25
    assert (t > 0.9).float().mean().item() == pytest.approx(0.1, abs=0.005)


def test_x0_parameterisation_round_trips_through_v():
    from stereosync.models.objective import v_from_x0

    g = torch.Generator().manual_seed(0)
    x0, x_t = torch.randn(3, 5, 7, generator=g), torch.randn(3, 5, 7, generator=g)
    t = torch.tensor([0.05, 0.5, 0.99])
    a, s = (q[:, None, None] for q in alpha_sigma(t))
    torch.testing.assert_close(a * x_t - s * v_from_x0(x0, x_t, t), x0)
    assert torch.isfinite(v_from_x0(x0, x_t, torch.zeros(3))).all()  # t = 0 exactly: σ floored, no inf/nan


def test_x0_loss_weights_turn_v_mse_into_capped_x0_mse():
    """For an x0-parameterised model: weighted v-MSE = x0-MSE · min(1/σ², cap); plain v-MSE at high noise."""
    from stereosync.models.objective import loss_weights, noise_and_target, v_from_x0, v_loss

    assert loss_weights(torch.rand(4), "v") is None
    with pytest.raises(ValueError, match="prediction"):
        loss_weights(torch.rand(4), "eps")
    g = torch.Generator().manual_seed(1)
    x0, x0_hat, noise = (torch.randn(4, 6, 9, generator=g, dtype=torch.float64) for _ in range(3))
    t = torch.tensor([0.02, 0.2, 0.6, 0.97], dtype=torch.float64)
    x_t, target = noise_and_target(x0, t, noise)
    w = loss_weights(t, "x0", x0_weight_cap=5.0)
    sigma = alpha_sigma(t)[1]
    assert w.tolist()[2:] == [1.0, 1.0]  # σ² ≥ 1/5: the v-loss itself
    for i in range(4):
        got = v_loss(v_from_x0(x0_hat[i : i + 1], x_t[i : i + 1], t[i : i + 1]), target[i : i + 1], w[i : i + 1])
        x0_mse = (x0_hat[i] - x0[i]).square().mean()
        assert got.item() == pytest.approx((x0_mse * min(1 / sigma[i] ** 2, 5.0)).item(), rel=1e-5)


def test_channel_weights_scale_each_channels_squared_error():
    from stereosync.models.objective import v_loss

    g = torch.Generator().manual_seed(2)
    pred, target = (torch.randn(3, 5, 7, generator=g, dtype=torch.float64) for _ in range(2))
    sq = (pred - target).square()
    cw = torch.tensor([1.0, 1.0, 1.0, 4.0, 0.0], dtype=torch.float64)
    assert v_loss(pred, target, channel_weights=torch.ones(5)).item() == pytest.approx(sq.mean().item())
    expected = (sq * cw[:, None]).mean()
    assert v_loss(pred, target, channel_weights=cw).item() == pytest.approx(expected.item(), rel=1e-6)
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    expected = ((sq * cw[:, None]).flatten(1).mean(1) * w).mean()
    assert v_loss(pred, target, w, cw).item() == pytest.approx(expected.item(), rel=1e-6)
