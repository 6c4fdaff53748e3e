"""The parametric-stereo latent: exact for constant-power panned sources, pan readable, built by the backbone."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stereosync.models.backbone import Backbone
from stereosync.models.parametric_stereo import ParametricStereoPretransform


def _panned(source: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Constant-power pan (the synthetic scenes' law) of a mono source (B, T) by positions x in [0, 1]."""
    theta = x * math.pi / 2
    return torch.stack([theta.cos() * source, theta.sin() * source], dim=1)


def test_round_trip_is_exact_for_a_source_panned_per_frame():
    ps = ParametricStereoPretransform(patch_size=64, pan_channels=4)
    g = torch.Generator().manual_seed(0)
    source = torch.randn(3, 64 * 20, generator=g) * 0.3
    x = torch.rand(3, 20, generator=g).repeat_interleave(64, dim=1)  # a different position in every frame
    audio = _panned(source, x)
    latent = ps.encode(audio)
    assert latent.shape == (3, 64 + 4, 20)
    assert torch.allclose(ps.decode(latent), audio, atol=2e-3)  # the -60 dB floor nudges near-hard pans
    # the pan read from the latent is the position: -1 hard left, +1 hard right
    assert torch.allclose(ps.pan(latent), x[:, ::64] * 2 - 1, atol=2e-3)


def test_hard_pans_and_silence():
    ps = ParametricStereoPretransform(patch_size=32, pan_channels=2)
    source = torch.ones(1, 32 * 3)
    source[:, 64:] = 0  # third frame silent
    x = torch.tensor([[0.0] * 32 + [1.0] * 32 + [0.0] * 32])
    pan = ps.pan(ps.encode(_panned(source, x)))
    assert pan[0, 0] == pytest.approx(-1, abs=2e-3)
    assert pan[0, 1] == pytest.approx(1, abs=2e-3)
    assert pan[0, 2] == pytest.approx(0, abs=1e-6)  # silence sits in the centre


def test_decode_clamps_the_pan_and_refuses_wrong_shapes():
    ps = ParametricStereoPretransform(patch_size=8, pan_channels=2, pan_scale=0.5)
    z = torch.zeros(1, 10, 3)
    z[:, :8] = 1.0
    z[:, 8:] = 5.0  # pan 10 → clamped to hard right
    audio = ps.decode(z)
    assert torch.allclose(audio[:, 0], torch.zeros(1, 24), atol=1e-6)
    assert torch.allclose(audio[:, 1], torch.ones(1, 24))
    with pytest.raises(ValueError, match=r"\(B, 10, L\)"):
        ps.decode(torch.zeros(1, 9, 3))
    with pytest.raises(ValueError, match="stereo audio"):
        ps.encode(torch.zeros(1, 1, 16))


def test_backbone_builds_it_from_the_model_config_and_keeps_synthetic_scenes_intact():
    from stereosync.data.scene import pan_gains

    backbone = Backbone("tiny_ps", latent_scale=10.0, activation_checkpointing=False)
    assert isinstance(backbone.pretransform, ParametricStereoPretransform)
    assert backbone.latent_channels == backbone.pretransform.encoded_channels == 288
    assert backbone.downsampling_ratio == 256
    # a footstep-like burst moving left → right, panned by the scene renderer's own law
    rng = np.random.default_rng(0)
    n = 32_000
    burst = rng.standard_normal(n) * np.exp(-((np.arange(n) % 4000) / 600.0))
    gl, gr = pan_gains(np.linspace(0, 1, n))
    audio = torch.tensor(np.stack([gl * burst, gr * burst]), dtype=torch.float32)[None] * 0.2
    latent = backbone.encode(audio)
    assert latent.shape == (1, 288, 125)
    decoded = backbone.decode(latent, n)
    assert ((decoded - audio).pow(2).sum() / audio.pow(2).sum()).item() < 1e-3
    # the pan channels follow the sweep wherever the burst is loud (scaled by pan_scale 0.2 x latent_scale 10)
    pan = latent[0, 256:].mean(0)
    expected = torch.tensor(np.linspace(0, 1, n)[128::256] * 2 - 1, dtype=torch.float32) * 2
    loud = audio[0].reshape(2, 125, 256).pow(2).mean((0, 2)).sqrt() > 10 ** (-40 / 20)
    assert loud.sum() > 40
    assert (pan - expected)[loud].abs().max() < 0.05


def test_pan_loss_weight_weighs_the_pan_channels_only(tiny_batch):
    """The module's loss with ``pan_loss_weight`` w = waveform-channel MSE + w · pan-channel MSE (per channel)."""
    from helpers import tiny_module

    from stereosync.models.backbone import Backbone

    torch.manual_seed(0)
    backbone = Backbone("tiny_ps", latent_scale=10.0, activation_checkpointing=False)
    ps = backbone.pretransform
    weights = ps.channel_weights(3.0)
    assert weights[: ps.patch_size].eq(1).all() and weights[ps.patch_size :].eq(3).all()
    batch = tiny_batch
    t = torch.tensor([0.3, 0.9])
    losses = {}
    for w in (0.0, 1.0, 5.0):
        module = tiny_module(backbone, pan_loss_weight=w, controlnet_checkpointing=False)
        losses[w] = module.loss(batch, t, noise_generator=torch.Generator().manual_seed(3)).item()
    pan_part = losses[1.0] - losses[0.0]  # the pan channels' share of the plain loss
    assert pan_part > 0
    assert losses[5.0] == pytest.approx(losses[0.0] + 5 * pan_part, rel=1e-4)


def test_pan_loss_weight_needs_pan_channels(tiny_backbone):
    from helpers import tiny_module

    with pytest.raises(ValueError, match="pan_loss_weight=4.0 needs a latent with pan channels"):
        tiny_module(tiny_backbone, pan_loss_weight=4.0)


def test_pan_loss_weight_from_t_weighs_only_the_high_noise_samples(tiny_batch):
    """``pan_loss_from_t``: the pan weight applies to the samples at t ≥ that time, the others keep weight 1."""
    from helpers import tiny_module

    from stereosync.models.backbone import Backbone

    torch.manual_seed(0)
    backbone = Backbone("tiny_ps", latent_scale=10.0, activation_checkpointing=False)
    t = torch.tensor([0.3, 0.9])

    def loss(w: float, from_t: float) -> float:
        module = tiny_module(backbone, pan_loss_weight=w, pan_loss_from_t=from_t, controlnet_checkpointing=False)
        return module.loss(tiny_batch, t, noise_generator=torch.Generator().manual_seed(3)).item()

    plain, no_pan = loss(1.0, 0.0), loss(0.0, 0.0)
    assert loss(5.0, 0.95) == pytest.approx(plain, rel=1e-6)  # no sample reaches t = 0.95
    low_pan = loss(0.0, 0.5) - no_pan  # the pan share of the t = 0.3 sample, kept at weight 1
    high_pan = plain - no_pan - low_pan
    assert low_pan > 0 and high_pan > 0
    assert loss(5.0, 0.5) == pytest.approx(no_pan + low_pan + 5 * high_pan, rel=1e-4)
    with pytest.raises(ValueError, match="pan_loss_from_t"):
        tiny_module(backbone, pan_loss_weight=2.0, pan_loss_from_t=1.0)
