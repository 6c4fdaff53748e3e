"""FAD against the scipy ``sqrtm`` formula, plus invariances, reference files and the stereo-aware variant."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.linalg
import torch

from stereosync.metrics import FAD, StereoEmbedder
from stereosync.metrics.functional import fad_from_features


def _scipy_fad(a: np.ndarray, b: np.ndarray) -> float:
    """The classic formula: |μa − μb|² + tr(Σa + Σb − 2 sqrtm(Σa Σb)), numpy covariances."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(sa @ sb, disp=False)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * np.trace(covmean.real))


def _gaussian_sets(d: int = 32, n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.3
    b = rng.standard_normal((n + 50, d)) @ rng.standard_normal((d, d)) * 0.2 + rng.standard_normal(d) * 0.5
    return a, b


def test_fad_matches_scipy_formula():
    a, b = _gaussian_sets()
    expected = _scipy_fad(a, b)
    ours = float(fad_from_features(torch.from_numpy(a), torch.from_numpy(b)))
    assert abs(ours - expected) <= 1e-6 * abs(expected)
    metric = FAD(sample_rate=44100, feature_dim=a.shape[1])
    metric.update(torch.from_numpy(a[:300]).float(), torch.from_numpy(b[:100]).float())
    metric.update(torch.from_numpy(a[300:]).float(), torch.from_numpy(b[100:]).float())
    expected32 = _scipy_fad(a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64))
    assert abs(float(metric.compute()) - expected32) <= 1e-6 * abs(expected32)


def test_fad_identical_sets_is_zero():
    a, _ = _gaussian_sets()
    assert abs(float(fad_from_features(torch.from_numpy(a), torch.from_numpy(a)))) < 1e-8


def test_fad_fewer_embeddings_than_dimensions_and_too_few_clips():
    a, b = _gaussian_sets(d=32, n=20)  # singular covariances: the eigh fallback replaces Cholesky
    expected = _scipy_fad(a, b)
    assert float(fad_from_features(torch.from_numpy(a), torch.from_numpy(b))) == pytest.approx(expected, rel=1e-6)
    metric = FAD(44100, feature_dim=32)
    metric.update(torch.from_numpy(a[:1]), torch.from_numpy(b))
    with pytest.warns(UserWarning, match="needs ≥ 2 generated"):
        assert torch.isnan(metric.compute())


def test_fad_invariant_to_batching_and_order():
    a, b = (torch.from_numpy(x) for x in _gaussian_sets(d=16, n=200, seed=1))
    one = FAD(44100, feature_dim=16)
    one.update(a, b)
    many = FAD(44100, feature_dim=16)
    # five updates of uneven sizes, rows shuffled independently in each set
    for ia, ib in zip(torch.randperm(len(a)).tensor_split(5), torch.randperm(len(b)).tensor_split(5)):
        many.update(a[ia], b[ib])
    assert torch.allclose(one.compute(), many.compute(), rtol=1e-10, atol=1e-12)


def test_fad_reference_statistics_roundtrip(tmp_path):
    a, b = (torch.from_numpy(x) for x in _gaussian_sets(d=8, n=100, seed=2))
    full = FAD(44100, feature_dim=8)
    full.update(a, b)
    ref_only = FAD(44100, feature_dim=8)
    ref_only.update(b[:2], b)  # preds are irrelevant: only the reference statistics are saved
    ref_only.save_reference(tmp_path / "ref.safetensors")
    reloaded = FAD(44100, feature_dim=8, reference=tmp_path / "ref.safetensors")
    reloaded.update(a)  # no target needed any more
    reloaded.reset()  # a fixed reference survives reset
    reloaded.update(a)
    assert torch.allclose(reloaded.compute(), full.compute(), rtol=1e-12)
    with pytest.raises(ValueError, match="fad_features"):
        FAD(44100, feature_dim=9, reference=tmp_path / "ref.safetensors")


def test_stereo_variant_sees_hard_panning(clap_encoder, tmp_path, signals):
    """A hard-left file: its L/R features differ, while its mono embedding equals its mirror image's."""
    sr, t = 44100, np.arange(44100) / 44100
    left = (0.5 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    scipy.io.wavfile.write(tmp_path / "hard_left.wav", sr, np.stack([left, np.zeros_like(left)], axis=1))
    rate, data = scipy.io.wavfile.read(tmp_path / "hard_left.wav")
    audio = torch.from_numpy(data.T.copy())[None]  # (1, 2, T)
    mirror = audio.flip(1)

    stereo = StereoEmbedder(clap_encoder)
    feats = stereo(audio, rate)  # (1, 1024) = [CLAP(L) | CLAP(R)]
    assert feats.shape == (1, 1024)
    f_left, f_right = feats[0, :512], feats[0, 512:]
    assert not torch.allclose(f_left, f_right, atol=1e-3)
    assert torch.allclose(f_left.norm(), torch.tensor(1.0)) and torch.allclose(f_right.norm(), torch.tensor(1.0))
    mono = clap_encoder(torch.cat([audio, mirror]), rate)
    assert torch.allclose(mono[0], mono[1], atol=1e-6)  # the mono downmix cannot tell a file from its mirror

    fad_mono, fad_stereo = FAD(rate, embedder=clap_encoder), FAD(rate, embedder=stereo)
    assert fad_mono.report_name == "fad_clap-htsat-tiny-fusion_48khz_mono"
    assert fad_stereo.report_name == "fad_clap-htsat-tiny-fusion_48khz_lr-concat"
    fad_stereo.persistent(True)  # even with persistent states, no network weights in the state_dict
    assert set(fad_stereo.state_dict()) == {"gen_n", "gen_sum", "gen_sumsq", "ref_n", "ref_sum", "ref_sumsq"}
    assert list(fad_stereo.parameters()) == []
