"""Two-stage 3-D audio: spatialise() follows the boxes; the ambiX writer round-trips and names its layout."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from stereosync.data.scene import pan_gains
from stereosync.data.synthetic import generate_scene
from stereosync.metrics.functional.binaural_align import azimuth_events, binaural_stats
from stereosync.metrics.functional.foa_doa import doa_frames, foa_doa_stats
from stereosync.spatial.ambix_io import AMBIX_COMMENT, write_ambix_wav
from stereosync.spatial.geometry import azimuth_from_x
from stereosync.spatial.spatialise import spatialise, split_sources

SR = 16000


def _boxes(centres: list[float], frames: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Static boxes 0.1 wide at the given centres: (frames, K, 4), mask (frames, K)."""
    boxes = np.zeros((frames, len(centres), 4), np.float32)
    for k, c in enumerate(centres):
        boxes[:, k] = [c - 0.05, 0.3, c + 0.05, 0.9]
    return boxes, np.ones((frames, len(centres)), bool)


def _pan(mono: np.ndarray, x: float) -> np.ndarray:
    gl, gr = pan_gains(np.array(x))
    return np.stack([gl * mono, gr * mono])


def test_stereo_passes_through_and_bad_input_is_refused():
    audio = np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32) * 0.1
    boxes, mask = _boxes([0.3])
    np.testing.assert_array_equal(spatialise(audio, SR, boxes, mask, fmt="stereo"), audio)
    for fmt, channels in (("binaural", 2), ("foa", 4)):  # shorter than one STFT window, no box frames at all
        short = spatialise(audio[:, :100], SR, np.zeros((0, 2, 4)), np.zeros((0, 2), bool), fmt=fmt)
        assert short.shape == (channels, 100) and np.isfinite(short).all()
    with pytest.raises(ValueError):
        spatialise(audio[:1], SR, boxes, mask)
    with pytest.raises(ValueError):
        spatialise(audio, SR, boxes, mask, fmt="5.1")


@pytest.mark.parametrize("x", [0.15, 0.5, 0.8])
def test_one_source_lands_at_its_box(x):
    mono = np.random.default_rng(1).standard_normal(SR) * 0.1
    boxes, mask = _boxes([x])
    audio = _pan(mono, x)
    out = spatialise(audio, SR, boxes, mask, fmt="binaural")
    assert out.shape == (2, SR) and out.dtype == np.float32
    ev = azimuth_events(torch.from_numpy(out), SR, torch.from_numpy(boxes), torch.from_numpy(mask))
    assert float((ev.azimuth - float(azimuth_from_x(x))).abs()[ev.active].max()) <= 3.0
    foa = spatialise(audio, SR, boxes, mask, fmt="foa")
    assert foa.shape == (4, SR)
    doa = doa_frames(torch.from_numpy(foa), SR)
    assert float((doa.azimuth - float(azimuth_from_x(x))).abs().max()) <= 1.0


def test_two_simultaneous_sources_are_split_by_their_pan():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(SR) * 0.1, rng.standard_normal(SR) * 0.1
    boxes, mask = _boxes([0.2, 0.85])
    sources, _, _ = split_sources(_pan(a, 0.2) + _pan(b, 0.85), SR, boxes, mask, 30.0)
    assert sources.shape == (3, SR)
    for k, ref in ((0, a), (1, b)):
        assert np.corrcoef(sources[k], ref)[0, 1] > 0.8
    assert np.abs(sources[2]).max() < 1e-9  # boxes everywhere: nothing for the free source


def test_ground_truth_stereo_spatialised_matches_the_boxes():
    scene = generate_scene(9, duration=4.0, sample_rate=SR)  # two characters
    boxes, mask = torch.from_numpy(scene.boxes), torch.from_numpy(scene.box_mask)
    binaural = spatialise(scene.audio, SR, scene.boxes, scene.box_mask, fmt="binaural")
    stats = binaural_stats(azimuth_events(torch.from_numpy(binaural), SR, boxes, mask))
    assert stats.abs_err_sum / stats.n_matched <= 10.0 and stats.tp / (stats.tp + stats.fn) >= 0.9
    foa = spatialise(scene.audio, SR, scene.boxes, scene.box_mask, fmt="foa")
    doa = foa_doa_stats(torch.from_numpy(foa), SR, boxes, mask)
    assert doa.err_sum / doa.n_matched <= 10.0


@pytest.mark.parametrize("subtype,tol", [("PCM_16", 1e-4), ("PCM_24", 1e-6), ("FLOAT", 0.0)])
def test_ambix_wav_round_trips_with_its_layout(tmp_path, subtype, tol):
    foa = np.random.default_rng(3).uniform(-0.9, 0.9, (4, 1001)).astype(np.float32)
    path = write_ambix_wav(tmp_path / "scene.wav", foa, SR, subtype)
    data, rate = sf.read(path, always_2d=True, dtype="float32")
    assert rate == SR and data.shape == (1001, 4)
    assert np.abs(data.T - foa).max() <= tol
    with sf.SoundFile(path) as f:
        assert f.format == "WAVEX" and f.comment == AMBIX_COMMENT
    with pytest.raises(ValueError):
        write_ambix_wav(tmp_path / "bad.wav", foa[:2], SR)
