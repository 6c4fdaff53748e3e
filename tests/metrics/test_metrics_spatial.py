"""Spatial AV-Align and its centre-robust companion on constructed stereo scenes with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stereosync.metrics import IldLocaliser, PanTracking, SpatialAVAlign, spatial_av_align_counts

FB = 60  # 2 s of boxes at 30 fps


@pytest.mark.parametrize("position", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_ild_localiser_inverts_constant_power_panning(signals, position):
    audio = signals.pan(signals.noise_bursts(), position)
    positions, active = IldLocaliser()(audio, signals.sr, 0.1)
    assert positions.shape == (20, 1)
    # bursts of 0.3 s every 0.5 s: frames 0-2, 5-7, 10-12, 15-17 are loud, the others silent
    expected_active = torch.tensor([(j % 5) < 3 for j in range(20)])
    assert torch.equal(active[:, 0], expected_active)
    assert torch.allclose(positions[active], torch.full((12,), position, dtype=torch.float64), atol=1e-6)


def test_left_source_left_box_scores_one(signals):
    boxes, mask = signals.box_track(torch.full((FB,), 0.15))
    tp, fn = spatial_av_align_counts(signals.pan(signals.noise_bursts(), 0.0), signals.sr, boxes, mask)
    assert (tp, fn) == (12, 0)


def test_left_source_right_box_scores_zero(signals):
    boxes, mask = signals.box_track(torch.full((FB,), 0.8))
    tp, fn = spatial_av_align_counts(signals.pan(signals.noise_bursts(), 0.0), signals.sr, boxes, mask)
    assert (tp, fn) == (0, 12)


def test_undetected_object_is_a_miss_not_a_hit(signals):
    boxes, mask = signals.box_track(torch.full((FB,), 0.15))
    tp, fn = spatial_av_align_counts(signals.pan(signals.noise_bursts(), 0.0), signals.sr, boxes, mask & False)
    assert (tp, fn) == (0, 12)


def test_box_window_is_plus_minus_one_frame_at_4fps(signals):
    """Box present only in 4-fps frame 4 (t = 1.0 s): events within ±0.25 s of it can match, others cannot."""
    audio = signals.pan(0.3 * torch.randn(2 * signals.sr, generator=torch.Generator().manual_seed(0)), 0.0)
    boxes, mask = signals.box_track(torch.full((FB,), 0.15))
    mask = torch.zeros_like(mask)
    mask[30] = True  # box frame 30 = 1.0 s = 4-fps frame 4
    # audio frame j (centre (j + 0.5)/10 s) searches 4-fps frames round(4 t) ± 1; frame 4 is reached for t in
    # [0.625, 1.375), i.e. j = 6 ... 13
    tp, fn = spatial_av_align_counts(audio, signals.sr, boxes, mask)
    assert (tp, fn) == (8, 12)


def test_silence_reports_no_events(signals):
    boxes, mask = signals.box_track(torch.full((FB,), 0.5))
    assert spatial_av_align_counts(torch.zeros(2, 2 * signals.sr), signals.sr, boxes, mask) == (0, 0)
    metric = SpatialAVAlign(signals.sr)
    metric.update(torch.zeros(1, 2, 2 * signals.sr), boxes[None], mask[None])
    with pytest.warns(UserWarning, match="nothing to score"):
        assert math.isnan(float(metric.compute()))


def test_metric_pools_events_over_clips(signals):
    left = signals.pan(signals.noise_bursts(), 0.0)
    box_left, mask = signals.box_track(torch.full((FB,), 0.15))
    box_right, _ = signals.box_track(torch.full((FB,), 0.8))
    short = left * (torch.arange(left.shape[-1]) < signals.sr // 2)  # only the first burst: 3 events
    metric = SpatialAVAlign(signals.sr)
    metric.update(torch.stack([left, short]), torch.stack([box_left, box_right]), torch.stack([mask, mask]))
    assert float(metric.compute()) == pytest.approx(12 / 15)  # pooled, not the mean of per-clip 1.0 and 0.0


def _moving_scene(signals, follow: bool):
    """Box sweeping left → right over 2 s; audio either follows it (constant-power pan) or stays centred mono."""
    centres = torch.linspace(0.05, 0.95, FB)
    boxes, mask = signals.box_track(centres, width=0.1)
    mono = signals.noise_bursts(period=0.1, length=0.1)  # continuous noise: every 0.1-s frame is active
    t = torch.arange(mono.shape[0]) / signals.sr
    position = torch.from_numpy(np.interp(t.numpy(), np.arange(FB) / 30, centres.numpy())).float()
    audio = signals.pan(mono, position if follow else 0.5)
    return audio, boxes, mask


def test_companion_exposes_centre_bias(signals):
    centred = signals.pan(signals.noise_bursts(period=0.1, length=0.1), 0.5)
    static_box, mask = signals.box_track(torch.full((FB,), 0.5))
    still = SpatialAVAlign(signals.sr)
    still.update(centred[None], static_box[None], mask[None])
    assert float(still.compute()) == 1.0  # centred mono, centred box: perfect on Spatial AV-Align

    audio, boxes, mask = _moving_scene(signals, follow=False)
    sava, companion = SpatialAVAlign(signals.sr), PanTracking(signals.sr)
    sava.update(audio[None], boxes[None], mask[None])
    companion.update(audio[None], boxes[None], mask[None])
    scores = companion.compute()
    # box edges [c - 0.05, c + 0.05] with c in [0.05, 0.95]: a centred sound still "hits" whenever a window
    # box reaches [0.5 - 40/256, 0.5 + 40/256] — more than half of the clip
    assert float(sava.compute()) > 0.5
    assert float(scores["pan_corr"]) == 0.0  # a static image does not track
    assert float(scores["pan_mae"]) == pytest.approx(0.225, abs=0.02)  # mean |c - 0.5| of a uniform sweep
    assert float(scores["spatial_av_align_offcentre"]) == 0.0

    audio, boxes, mask = _moving_scene(signals, follow=True)
    good = PanTracking(signals.sr)
    good.update(audio[None], boxes[None], mask[None])
    scores = good.compute()
    assert float(scores["pan_corr"]) > 0.99
    assert float(scores["pan_mae"]) < 0.02
    assert float(scores["spatial_av_align_offcentre"]) == 1.0


def _two_characters(signals, follow: bool):
    """Two characters walking in opposite directions on either side; the sound alternates between them every
    0.1-s frame, either following each along its path or parked at each one's mean position."""
    a, b = torch.linspace(0.05, 0.35, FB), torch.linspace(0.95, 0.65, FB)
    (box_a, mask_a), (box_b, mask_b) = signals.box_track(a, width=0.1), signals.box_track(b, width=0.1)
    boxes, mask = torch.cat([box_a, box_b], dim=1), torch.cat([mask_a, mask_b], dim=1)
    mono = signals.noise_bursts(period=0.1, length=0.1)
    t = torch.arange(mono.shape[0]) / signals.sr
    on_a = (torch.arange(mono.shape[0]) // (signals.sr // 10)) % 2 == 0  # integer frames: no float edges
    path_a = torch.from_numpy(np.interp(t.numpy(), np.arange(FB) / 30, a.numpy())).float()
    path_b = torch.from_numpy(np.interp(t.numpy(), np.arange(FB) / 30, b.numpy())).float()
    if not follow:
        path_a, path_b = torch.full_like(path_a, 0.2), torch.full_like(path_b, 0.8)
    return signals.pan(mono, torch.where(on_a, path_a, path_b)), boxes, mask


def test_per_source_correlation_asks_each_character_to_be_followed(signals):
    audio, boxes, mask = _two_characters(signals, follow=False)
    parked = PanTracking(signals.sr)
    parked.update(audio[None], boxes[None], mask[None])
    scores = parked.compute()
    # pooled over both characters, two parked positions correlate with the boxes through the left/right split
    assert float(scores["pan_corr"]) > 0.9
    assert abs(float(scores["pan_corr_per_source"])) < 1e-6  # but neither character is followed

    audio, boxes, mask = _two_characters(signals, follow=True)
    following = PanTracking(signals.sr)
    following.update(audio[None], boxes[None], mask[None])
    scores = following.compute()
    assert float(scores["pan_corr"]) > 0.99
    assert float(scores["pan_corr_per_source"]) > 0.95
    assert float(scores["pan_mae"]) < 0.02


def test_per_source_equals_per_clip_with_one_object(signals):
    audio, boxes, mask = _moving_scene(signals, follow=True)
    audio = audio * (0.5 + 0.5 * torch.rand(audio.shape[-1], generator=torch.Generator().manual_seed(1)))
    metric = PanTracking(signals.sr)
    metric.update(audio[None], boxes[None], mask[None])
    scores = metric.compute()
    assert float(scores["pan_corr_per_source"]) == pytest.approx(float(scores["pan_corr"]), abs=1e-12)
