"""The envelope predictor's optional onset head: its target, its BCE in training, its file round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stereosync.models.envelope_predictor import EnvelopePredictor

ROOT = Path(__file__).resolve().parents[2]


def test_onset_target_marks_the_step_of_each_true_onset() -> None:
    model = EnvelopePredictor(num_objects=2, upsample=2, onset_head=True)
    # at 30 fps and 2 steps per frame a step lasts 1/60 s: 0.0 → step 0, 0.51 → 30, 1.999 → 119
    events = torch.tensor([[[0.0, 0.0], [0.51, 1.0], [1.999, 0.0]], [[0.25, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    target = model.onset_target(events, mask, num_frames=60, fps=30.0)
    assert target.shape == (2, 120)
    assert torch.nonzero(target[0]).flatten().tolist() == [0, 30, 119]
    assert torch.nonzero(target[1]).flatten().tolist() == [15]  # padding marks nothing, not even step 0


def test_without_the_head_the_predictor_and_its_file_are_unchanged(tmp_path) -> None:
    torch.manual_seed(0)
    plain = EnvelopePredictor(num_objects=2)
    torch.manual_seed(0)
    headed = EnvelopePredictor(num_objects=2, onset_head=True)
    shared = {k: v for k, v in headed.state_dict().items() if not k.startswith("onset.")}
    assert shared.keys() == plain.state_dict().keys()
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in shared.items())  # same init with the head
    assert "onset_head" not in plain.config
    with pytest.raises(ValueError, match="no onset head"):
        plain.onset_logits(torch.zeros(1, 60, 64))
    headed.save_pretrained(tmp_path / "h.safetensors")
    assert EnvelopePredictor.from_pretrained(tmp_path / "h.safetensors").onset is not None


def test_training_step_adds_the_onset_bce_only_with_events() -> None:
    from stereosync.envelope_training import EnvelopePredictorModule

    module = EnvelopePredictorModule(onset_weight=1.0)
    module.log = lambda *a, **k: None  # no trainer attached
    b = 2
    batch = {
        "motion": torch.randn(b, 60, module.predictor.motion_dim).abs() * 1e-2,
        "boxes": torch.rand(b, 60, 2, 4).sort(-1).values,
        "box_mask": torch.ones(b, 60, 2, dtype=torch.bool),
        "envelope": torch.rand(b, 1, 32000) * 0.1,
    }
    plain = module.training_step(dict(batch), 0)
    batch.update(
        events=torch.tensor([[[0.5, 0.0]], [[1.0, 1.0]]]),
        events_mask=torch.ones(b, 1, dtype=torch.bool),
        has_events=torch.ones(b, dtype=torch.bool),
    )
    with_onsets = module.training_step(batch, 0)
    assert float(with_onsets) > float(plain)  # the BCE is added
    with_onsets.backward()
    assert module.predictor.onset.weight.grad is not None and module.predictor.onset.weight.grad.abs().sum() > 0
