"""Binaural Spatial AV-Align, azimuth MAE and FOA DOA error against references with known answers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from stereosync.data.synthetic import generate_scene
from stereosync.metrics import BinauralAlign, FoaDoaError, build_metrics
from stereosync.metrics.functional.binaural_align import azimuth_events, binaural_stats
from stereosync.metrics.functional.binaural_cues import cue_curves, frame_azimuths, gcc_phat_itd
from stereosync.metrics.functional.foa_doa import doa_frames, foa_doa_error_between, foa_doa_stats
from stereosync.spatial.ambisonics import encode_gains
from stereosync.spatial.hrtf import fractional_delay

SR = 16000


@pytest.fixture(scope="module")
def scenes():
    """Ground-truth renders of three 4-s scenes (seed 9 has two characters)."""
    return [generate_scene(seed, duration=4.0, sample_rate=SR) for seed in (9, 103, 113)]


def _pooled(scenes, transform=lambda b: b):
    tp = fn = n = 0
    err = 0.0
    for s in scenes:
        b = transform(torch.from_numpy(s.binaural))
        st = binaural_stats(azimuth_events(b, SR, torch.from_numpy(s.boxes), torch.from_numpy(s.box_mask)))
        tp, fn, err, n = tp + st.tp, fn + st.fn, err + st.abs_err_sum, n + st.n_matched
    return tp / (tp + fn), err / n


@pytest.mark.parametrize("delay", [0.0, 3.0, -5.5, 9.25])
def test_known_itd_of_a_delayed_copy_is_recovered(delay):
    x = np.random.default_rng(0).standard_normal((1, 1600))
    right = fractional_delay(x, np.array([delay]), 1600 + 20)[:, :1600]
    itd = gcc_phat_itd(torch.from_numpy(x), torch.from_numpy(right), SR)
    assert float(itd[0]) == pytest.approx(delay / SR, abs=0.5 / (16 * SR))


def test_itd_maps_through_the_kemar_curve():
    """Delayed copies (no level difference) of growing ITD land on the right side, in order of their ITD."""
    curves = cue_curves(SR, 1600)
    assert torch.all(torch.diff(curves.itd[60:121]) >= 0)  # ITD grows from -30° to +30°
    x = np.random.default_rng(1).standard_normal((1, SR))
    estimates = []
    for itd_us in (-400, -150, 0, 150, 400):
        pair = np.concatenate([x, fractional_delay(x, np.array([itd_us * 1e-6 * SR]), SR)])
        estimates.append(float(frame_azimuths(torch.from_numpy(pair), SR, 0.1).median()))
    assert estimates == sorted(estimates) and estimates[0] < -10 and estimates[2] == 0 and estimates[-1] > 10


def test_ground_truth_render_scores_well(scenes):
    align, mae = _pooled(scenes)
    assert mae <= 10.0 and align >= 0.9


def test_left_right_swapped_render_scores_badly(scenes):
    align, mae = _pooled(scenes)
    swapped_align, swapped_mae = _pooled(scenes, lambda b: b.flip(0))
    assert swapped_mae > 20.0 and swapped_mae > 3 * mae and swapped_align < align - 0.3


@pytest.mark.parametrize("az,el", [(0, 0), (35, 0), (-120, 10), (60, -30)])
def test_known_foa_plane_wave_direction_is_recovered(az, el):
    s = np.random.default_rng(2).standard_normal(SR)
    foa = torch.from_numpy(encode_gains(az, el)[:, None] * s[None])
    doa = doa_frames(foa, SR)
    assert doa.active.all()
    assert torch.allclose(doa.azimuth, torch.tensor(float(az), dtype=torch.float64), atol=0.5)
    assert torch.allclose(doa.elevation, torch.tensor(float(el), dtype=torch.float64), atol=0.5)
    same = foa_doa_error_between(foa, foa, SR)
    assert same.err_sum / same.n_matched < 0.1


def test_ground_truth_foa_matches_the_boxes(scenes):
    stats = [
        foa_doa_stats(torch.from_numpy(s.foa), SR, torch.from_numpy(s.boxes), torch.from_numpy(s.box_mask))
        for s in scenes
    ]
    assert sum(s.err_sum for s in stats) / sum(s.n_matched for s in stats) <= 10.0
    mirrored = [torch.from_numpy(s.foa) * torch.tensor([1.0, -1.0, 1.0, 1.0])[:, None] for s in scenes]  # Y ↦ -Y
    bad = [
        foa_doa_stats(m, SR, torch.from_numpy(s.boxes), torch.from_numpy(s.box_mask)) for m, s in zip(mirrored, scenes)
    ]
    assert sum(s.err_sum for s in bad) / sum(s.n_matched for s in bad) > 20.0


def test_metric_classes_pool_the_functional_values(scenes):
    binaural = torch.stack([torch.from_numpy(s.binaural) for s in scenes])
    foa = torch.stack([torch.from_numpy(s.foa) for s in scenes])
    boxes = torch.stack([torch.from_numpy(s.boxes) for s in scenes])
    mask = torch.stack([torch.from_numpy(s.box_mask) for s in scenes])
    metric, doa = BinauralAlign(SR), FoaDoaError(SR)
    metric.update(boxes[:1], mask[:1], binaural[:1])
    metric.update(boxes[1:], mask[1:], binaural=binaural[1:])
    metric.update(boxes, mask, binaural=None)  # a batch without binaural audio adds nothing
    doa.update(boxes, mask, foa=foa)
    align, mae = _pooled(scenes)
    out = metric.compute()
    assert float(out["binaural_spatial_av_align"]) == pytest.approx(align)
    assert float(out["azimuth_mae"]) == pytest.approx(mae)
    assert float(doa.compute()) <= 10.0


def test_collection_reports_spatial_formats_only_when_asked():
    plain = build_metrics(SR)
    assert not {"binaural", "foa_doa_error"} & set(plain.keys())
    spatial = build_metrics(SR, spatial_formats=True)
    b, t = 2, SR
    spatial.update(
        preds=torch.zeros(b, 2, t),
        target=torch.zeros(b, 2, t),
        boxes=torch.zeros(b, 30, 1, 4),
        box_mask=torch.zeros(b, 30, 1, dtype=torch.bool),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 3-D audio at all: NaN without a warning
        values = dict(spatial["binaural"].compute())
        values["foa_doa_error"] = spatial["foa_doa_error"].compute()
    assert len(values) == 3 and all(math.isnan(float(v)) for v in values.values())
