"""The parametric-binaural latent: KEMAR renders round-trip with their azimuth, cues are recovered, shapes fit the
tiny DiT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import oaconvolve

from stereosync.metrics.functional.binaural_cues import frame_azimuths, gcc_phat_itd
from stereosync.models.backbone import Backbone
from stereosync.models.parametric_binaural import ParametricBinauralPretransform
from stereosync.spatial.hrtf import fractional_delay, kemar

SR = 16000


def _bursts(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """A footstep-like mono source: 60-ms decaying noise bursts every 0.25 s."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SR))
    n = int(0.06 * SR)
    for start in range(0, len(out) - n, SR // 4):
        out[start : start + n] += rng.standard_normal(n) * np.exp(-np.arange(n) / (0.015 * SR))
    return out


def _render(source: np.ndarray, azimuth: float) -> torch.Tensor:
    ears = oaconvolve(source[None], kemar(SR).hrir(azimuth), axes=-1)[:, : len(source)]
    return torch.from_numpy(ears / np.abs(ears).max()).float()


@pytest.mark.parametrize("azimuth", [-70.0, -35.0, 0.0, 20.0, 55.0])
def test_a_kemar_render_round_trips_with_its_azimuth(azimuth):
    pb = ParametricBinauralPretransform(SR)
    ears = _render(_bursts(seed=int(azimuth) % 7), azimuth)
    back = pb.decode(pb.encode(ears[None]))[0, :, : ears.shape[-1]]
    # the metric's 0.1-s frames that hold a burst onset (the others are its decay or silence)
    frames = np.arange(0, 20, 2.5).astype(int)
    before = frame_azimuths(ears, SR, 0.1)[frames]
    after = frame_azimuths(back, SR, 0.1)[frames]
    assert (before - azimuth).abs().max() <= 5  # the metric reads the render itself at its azimuth
    assert (after - before).abs().max() <= 3


def test_a_known_itd_and_ild_are_recovered_and_applied():
    pb = ParametricBinauralPretransform(SR, band_edges_hz=(1500.0, 4000.0))
    src = np.random.default_rng(1).standard_normal(SR) * 0.1
    itd_samples, ild_db = 4.4, 6.0
    left = src * 10 ** (ild_db / 40)
    right = fractional_delay(src[None], np.array([itd_samples]), len(src))[0] * 10 ** (-ild_db / 40)
    z = pb.encode(torch.from_numpy(np.stack([left, right])).float()[None])
    itd_ms, ild = pb.cues(z)
    inner = slice(2, -2)  # away from the clip's edges
    assert itd_ms[0, inner].sub(itd_samples / SR * 1e3).abs().max() < 0.1 / SR * 1e3  # within 0.1 sample
    assert ild[0, :, inner].sub(ild_db).abs().max() < 0.5
    # decoding applies them: the ears' GCC-PHAT delay and level ratio are the encoded ones
    out = pb.decode(z)[0].double()
    lag = gcc_phat_itd(out[0, None, 2048:-2048], out[1, None, 2048:-2048], SR)
    assert float(lag) * SR == pytest.approx(itd_samples, abs=0.1)
    level = 10 * torch.log10(out[0, 2048:-2048].square().sum() / out[1, 2048:-2048].square().sum())
    assert float(level) == pytest.approx(ild_db, abs=0.5)


def test_cue_channels_hold_each_cue_in_its_block_and_silence_has_none():
    pb = ParametricBinauralPretransform(SR, patch_size=256, cue_channels=32, band_edges_hz=(1500.0, 4000.0))
    assert (pb.n_cues, pb.copies) == (4, 8)
    src = np.random.default_rng(2).standard_normal(SR // 2) * 0.1
    loud_left = torch.from_numpy(np.stack([src * 2.0, src * 0.5])).float()
    z = pb.encode(torch.cat([loud_left, torch.zeros(2, SR // 2)], -1)[None])
    cues = z[0, 256:]  # (32, L)
    blocks = cues.unflatten(0, (4, 8))
    assert torch.equal(blocks, blocks[:, :1].expand_as(blocks))  # copies are identical
    half = z.shape[-1] // 2
    assert (blocks[0, 0, 2 : half - 2].abs() < 0.01 * pb.cue_scale).all()  # no delay between the ears
    assert (blocks[1:, 0, 2 : half - 2] > 0).all()  # left louder in every band
    assert blocks[:, 0, half + 2 :].abs().max() < 1e-3  # silence: zero cues


def test_decode_clamps_cues_and_refuses_wrong_shapes_and_settings():
    pb = ParametricBinauralPretransform(SR, patch_size=64, cue_channels=6, band_edges_hz=(2000.0,), window=64, hop=16)
    z = torch.zeros(1, 70, 10)
    z[:, 64:] = 50.0  # far beyond range: clamped to the maximum ITD and ILD
    itd_ms, ild = pb.cues(z)
    assert torch.allclose(itd_ms, torch.full_like(itd_ms, 0.8))
    assert torch.allclose(ild, torch.full_like(ild, 30.0))
    with pytest.raises(ValueError, match=r"\(B, 70, L\)"):
        pb.decode(torch.zeros(1, 69, 10))
    with pytest.raises(ValueError, match="binaural audio"):
        pb.encode(torch.zeros(1, 1, 640))
    with pytest.raises(ValueError, match="not a multiple of the 3 cues"):
        ParametricBinauralPretransform(SR, cue_channels=32, band_edges_hz=(2000.0,))  # ITD + 2 ILDs
    with pytest.raises(ValueError, match="must ascend"):
        ParametricBinauralPretransform(SR, band_edges_hz=(4000.0, 1500.0))


def test_backbone_builds_it_from_tiny_pb_with_the_tiny_dit_shape():
    bb = Backbone("tiny_pb", latent_scale=10.0, activation_checkpointing=False)
    ps = Backbone("tiny_ps", latent_scale=10.0, activation_checkpointing=False)
    assert isinstance(bb.pretransform, ParametricBinauralPretransform)
    assert bb.latent_channels == ps.latent_channels == bb.pretransform.encoded_channels
    assert bb.dit_config == ps.dit_config  # the same architecture
    audio = _render(_bursts(1.0), 30.0)[None]
    latent = bb.encode(audio)
    assert latent.shape == (1, bb.latent_channels, bb.latent_frames(audio.shape[-1]))
    assert 0.3 < float(latent.std()) < 3  # latent_scale brings it near unit variance, as for tiny_ps
    with torch.no_grad():
        v = bb(latent, torch.full((1,), 0.5), *bb.number_conditioning(torch.zeros(1), torch.ones(1)))
    assert v.shape == latent.shape
