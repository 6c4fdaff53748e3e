"""The shared figures: labelled L/R spectrograms with a dB colour bar, pan of generated and reference audio over
each tracked object's box centre."""

from __future__ import annotations

import numpy as np
import torch

from stereosync import plots


def _panned_tone(sr: int, pan: float, seconds: float = 2.0) -> torch.Tensor:
    t = torch.arange(int(sr * seconds)) / sr
    tone = torch.sin(2 * torch.pi * 440 * t) * 0.5
    theta = pan * torch.pi / 2
    return torch.stack([tone * np.cos(theta), tone * np.sin(theta)])


def test_spectrogram_figure_has_axes_channel_labels_and_a_db_colour_bar():
    sr = 16000
    audio = _panned_tone(sr, 0.0)  # all in L: R is at the floor
    fig = plots.spectrogram_figure(audio, sr, "clip")
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == 2 and len(bars) == 1
    assert "dB" in bars[0].get_ylabel()
    assert [t.get_text() for ax in panels for t in ax.texts] == ["L (left)", "R (right)"]
    assert panels[1].get_xlabel() == "time (s)" and all(ax.get_ylabel() == "frequency (kHz)" for ax in panels)
    left, right = (ax.images[0].get_array() for ax in panels)
    assert left.max() == 0 and right.max() <= -plots.DB_RANGE + 1  # L holds the tone, R is silent
    assert panels[0].images[0].get_extent()[1] == 2.0 and panels[0].images[0].get_extent()[3] == 8.0
    assert plots.figure_to_array(fig).shape[-1] == 3


def test_pan_figure_shows_generated_and_reference_pan_over_every_tracked_object():
    sr = 16000
    generated, reference = _panned_tone(sr, 0.1), _panned_tone(sr, 0.9)
    boxes = torch.tensor([[[0.0, 0.4, 0.2, 0.9], [0.8, 0.4, 1.0, 0.9]]]).repeat(60, 1, 1)  # two objects
    mask = torch.ones(60, 2, dtype=torch.bool)
    mask[30:, 1] = False  # the second one leaves after 1 s
    fig = plots.pan_figure(generated, boxes, mask, sr, reference, "clip")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["box centre, object 1", "box centre, object 2", "reference pan", "generated pan"]
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert np.allclose(lines["box centre, object 1"], 0.1)
    assert np.isnan(lines["box centre, object 2"][-1]) and np.isclose(lines["box centre, object 2"][0], 0.9)
    points = {c.get_label(): c.get_offsets()[:, 1] for c in ax.collections}
    assert np.allclose(points["generated pan"], 0.1, atol=0.01)
    assert np.allclose(points["reference pan"], 0.9, atol=0.01)
    no_ref = plots.pan_figure(generated, boxes, mask, sr)
    assert "reference pan" not in [t.get_text() for t in no_ref.axes[0].get_legend().get_texts()]
