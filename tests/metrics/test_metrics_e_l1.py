"""E-L1 against an independent numpy/librosa implementation of the definition in docs/metrics.md."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch
import torchaudio

from stereosync.metrics import EL1
from stereosync.metrics.functional import e_l1, frame_rms


def _reference_e_l1(preds: np.ndarray, target: np.ndarray) -> float:
    """docs/metrics.md with librosa: mono, length matched to the reference, rms 512/128 centred reflect, mean |Δ|."""
    per_clip = []
    for gen, ref in zip(preds, target):
        gen, ref = gen.mean(axis=0), ref.mean(axis=0)
        gen = gen[: len(ref)] if len(gen) >= len(ref) else np.pad(gen, (0, len(ref) - len(gen)))
        kw = dict(frame_length=512, hop_length=128, center=True, pad_mode="reflect", dtype=np.float64)
        r_gen = librosa.feature.rms(y=gen.astype(np.float64), **kw)[0]
        r_ref = librosa.feature.rms(y=ref.astype(np.float64), **kw)[0]
        per_clip.append(np.abs(r_gen - r_ref).mean())
    return float(np.mean(per_clip))


def _clips(n: int, length: int, seed: int) -> torch.Tensor:
    """(n, 2, length) noise with a slow random envelope, so frame energies vary (real 2-s length by default)."""
    g = torch.Generator().manual_seed(seed)
    env = torch.nn.functional.interpolate(torch.rand(n, 2, 20, generator=g), size=length, mode="linear")
    return 0.5 * env * torch.randn(n, 2, length, generator=g)


def test_frame_rms_matches_librosa():
    x = _clips(1, 88_200, 0)[0, 0]
    ours = frame_rms(x[None])[0].numpy()
    ref = librosa.feature.rms(
        y=x.double().numpy(), frame_length=512, hop_length=128, center=True, pad_mode="reflect", dtype=np.float64
    )[0]
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("gen_len", [88_200, 90_112, 80_000], ids=["same", "longer-cropped", "shorter-padded"])
def test_e_l1_matches_librosa_reference(gen_len):
    preds, target = _clips(3, gen_len, 1), _clips(3, 88_200, 2)
    expected = _reference_e_l1(preds.numpy(), target.numpy())
    assert abs(float(e_l1(preds, target, 44100)) - expected) <= 1e-6
    metric = EL1(sample_rate=44100)
    metric.update(preds[:2], target[:2])  # batching must not matter: mean over clips, not over batches
    metric.update(preds[2:], target[2:])
    assert abs(float(metric.compute()) - expected) <= 1e-6


def test_e_l1_resamples_to_44k():
    preds, target = _clips(2, 96_000, 3), _clips(2, 96_000, 4)
    # the expectation resamples with the same resampler, then follows the numpy/librosa definition
    to44 = lambda x: torchaudio.functional.resample(x, 48000, 44100).numpy()  # noqa: E731
    expected = _reference_e_l1(to44(preds), to44(target))
    metric = EL1(sample_rate=48000)
    metric.update(preds, target)
    assert abs(float(metric.compute()) - expected) <= 1e-6


def test_e_l1_identical_is_zero_and_empty_is_nan():
    x = _clips(2, 88_200, 5)
    assert float(e_l1(x, x, 44100)) == 0.0
    with pytest.warns(UserWarning, match="nothing to score"):
        assert torch.isnan(EL1(44100).compute())
