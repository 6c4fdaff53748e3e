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
