"""AV-Align on constructed clips: clicks and motion bursts at chosen times give hand-computed IoUs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stereosync.metrics import AVAlign
from stereosync.metrics.functional.av_align import audio_peaks, flow_magnitudes, peaks_iou, video_peaks

FPS, N_FRAMES, SECONDS = 10, 36, 3.6
CLICKS = [0.5, 1.2, 2.0, 2.7]  # seconds


def test_constructed_peaks_are_detected(signals):
    """The constructions behave as designed: one onset per click, one flow peak per burst."""
    onsets = audio_peaks(signals.click_track(CLICKS, SECONDS).mean(0), signals.sr)
    np.testing.assert_allclose(onsets, CLICKS, atol=0.05)
    peaks = video_peaks(flow_magnitudes(signals.motion_video([5, 12, 20, 27], N_FRAMES)), FPS)
    np.testing.assert_allclose(peaks, [0.5, 1.2, 2.0, 2.7])


@pytest.mark.parametrize(
    ("bursts", "expected"),
    [
        ([5, 12, 20, 27], 1.0),  # same times
        ([8, 16, 24, 32], 0.0),  # every burst ≥ 0.2 s from every click
        ([5, 12, 16, 32], 2 / (4 + 4 - 2)),  # two of four match
        ([5, 12], 2 / (4 + 2 - 2)),  # fewer video peaks
    ],
    ids=["aligned", "disjoint", "half", "subset"],
)
def test_av_align_iou(signals, bursts, expected):
    audio = torch.from_numpy(signals.click_track(CLICKS, SECONDS))[None]
    frames = torch.from_numpy(signals.motion_video(bursts, N_FRAMES))[None]
    metric = AVAlign(sample_rate=signals.sr, video_fps=FPS)
    metric.update(audio, frames)
    assert float(metric.compute()) == pytest.approx(expected)


def test_matching_is_one_to_one_within_one_frame():
    # two audio peaks near one video peak: only one may take it; 0.35 is outside ±1/10 s of 0.2
    assert peaks_iou(np.array([0.2, 0.25]), np.array([0.2]), fps=10) == pytest.approx(1 / 2)
    assert peaks_iou(np.array([0.35]), np.array([0.2]), fps=10) == 0.0
    assert math.isnan(peaks_iou(np.array([]), np.array([]), fps=10))


def test_mean_over_clips_skips_clips_without_peaks(signals):
    audio = torch.from_numpy(np.stack([signals.click_track(CLICKS, SECONDS), np.zeros((2, int(SECONDS * 44100)))]))
    frames = torch.from_numpy(
        np.stack([signals.motion_video([5, 12, 16, 32], N_FRAMES), signals.motion_video([], N_FRAMES)])
    )
    metric = AVAlign(sample_rate=signals.sr, video_fps=FPS)
    metric.update(audio.float(), frames)
    assert float(metric.compute()) == pytest.approx(1 / 3)  # the silent, static clip has no IoU
