"""``EnvelopeControl(pan_from_boxes=True)``: the mono envelope panned by box centres (constant-power law)."""

from __future__ import annotations

import math

import pytest
import torch

from stereosync.models.envelope_control import EnvelopeControl, box_pan_gains


def boxes_at(x: list[float], frames: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """One object per clip, box centre x (width 0.1), present in every frame: (B, F, 1, 4), (B, F, 1)."""
    b = torch.zeros(len(x), frames, 1, 4)
    for i, xi in enumerate(x):
        b[i, :, 0] = torch.tensor([xi - 0.05, 0.2, xi + 0.05, 0.8])
    return b, torch.ones(len(x), frames, 1, dtype=torch.bool)


def test_gains_follow_the_constant_power_law():
    boxes, mask = boxes_at([0.0, 0.5, 1.0, 0.25])
    gains = box_pan_gains(boxes, mask, 10)
    assert gains.shape == (4, 2, 10)
    expected = [(math.sqrt(2), 0.0), (1.0, 1.0), (0.0, math.sqrt(2))]
    for i, (gl, gr) in enumerate(expected):
        assert torch.allclose(gains[i, 0], torch.full((10,), gl), atol=1e-6)
        assert torch.allclose(gains[i, 1], torch.full((10,), gr), atol=1e-6)
    # left of centre → louder on the left; energy preserved (L² + R² = 2, as the mono envelope on both channels)
    assert (gains[3, 0] > gains[3, 1]).all()
    assert torch.allclose((gains**2).sum(1), torch.full((4, 10), 2.0), atol=1e-5)


def test_frames_map_to_their_time_span_and_absent_boxes_count_as_centre():
    boxes, mask = boxes_at([1.0], frames=2)
    mask[0, 1] = False  # second half: nobody in view
    gains = box_pan_gains(boxes, mask, 8)
    assert torch.allclose(gains[0, 1, :4], torch.full((4,), math.sqrt(2)), atol=1e-6)  # hard right
    assert torch.allclose(gains[0, :, 4:], torch.ones(2, 4), atol=1e-6)  # centre


def test_default_is_the_unpanned_envelope(tiny_backbone):
    audio = torch.randn(2, 2, 32_000) * 0.3
    boxes, mask = boxes_at([0.0, 1.0], frames=60)
    batch = {"audio": audio, "boxes": boxes, "box_mask": mask}
    plain = EnvelopeControl()(batch, tiny_backbone)
    panned = EnvelopeControl(pan_from_boxes=True)(batch, tiny_backbone)
    assert not torch.allclose(plain, panned)
    half = plain.shape[1] // 2  # patched latent: channels [0, C/2) hold L, [C/2, C) hold R
    assert panned[0, half:].abs().max() < 1e-5 and panned[1, :half].abs().max() < 1e-5


def test_pan_needs_a_mono_envelope():
    with pytest.raises(ValueError, match="mono"):
        EnvelopeControl(mode="stereo", pan_from_boxes=True)
