"""The envelope predictor's level: the calibration gain (files, decode, export) and the training L1 term."""

from __future__ import annotations

import pytest
import torch

from stereosync.models.envelope_predictor import EnvelopePredictor


def _batch(module, b: int = 2) -> dict:
    return {
        "motion": torch.randn(b, 60, module.predictor.motion_dim).abs() * 1e-2,
        "boxes": torch.rand(b, 60, 2, 4).sort(-1).values,
        "box_mask": torch.ones(b, 60, 2, dtype=torch.bool),
        "envelope": torch.rand(b, 1, 32000) * 0.1,
    }


@pytest.mark.parametrize("output", ["mulaw", "log"])
def test_gain_scales_the_decoded_envelope_and_travels_with_the_file(tmp_path, output) -> None:
    torch.manual_seed(0)
    plain = EnvelopePredictor(num_objects=2, output=output)
    scaled = EnvelopePredictor(num_objects=2, output=output, gain=0.5)
    scaled.load_state_dict(plain.state_dict())  # a gain adds no weights
    raw = plain(
        torch.rand(1, 60, plain.motion_dim) * 1e-2, torch.rand(1, 60, 2, 4).sort(-1).values, torch.ones(1, 60, 2)
    )
    assert torch.allclose(scaled.decode(raw), 0.5 * plain.decode(raw))
    assert "gain" not in plain.config  # uncalibrated files keep their metadata
    scaled.save_pretrained(tmp_path / "g.safetensors")
    assert EnvelopePredictor.from_pretrained(tmp_path / "g.safetensors").gain == 0.5
    with pytest.raises(ValueError, match="gain must be > 0"):
        EnvelopePredictor(num_objects=2, gain=0.0)


def test_export_writes_the_gain(tmp_path) -> None:
    from stereosync.envelope_training import EnvelopePredictorModule, export

    module = EnvelopePredictorModule()
    ckpt = tmp_path / "m.ckpt"
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, ckpt)
    model = export(ckpt, tmp_path / "out.safetensors", gain=0.8)
    loaded = EnvelopePredictor.from_pretrained(tmp_path / "out.safetensors")
    assert model.gain == loaded.gain == 0.8
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in module.predictor.state_dict().items())


def test_the_l1_term_is_added_in_training_and_reaches_the_weights() -> None:
    from stereosync.envelope_training import EnvelopePredictorModule

    torch.manual_seed(0)
    plain = EnvelopePredictorModule()
    weighted = EnvelopePredictorModule(l1_weight=1.0)
    weighted.load_state_dict(plain.state_dict())  # the same network: only the loss differs
    for m in (plain, weighted):
        m.log = lambda *a, **k: None  # no trainer attached
    batch = _batch(plain)
    base, with_l1 = plain.training_step(dict(batch), 0), weighted.training_step(dict(batch), 0)
    assert float(with_l1.detach()) > float(base.detach())  # a relative L1 of an untrained network is far from 0
    base.backward()
    with_l1.backward()
    g0, g1 = plain.predictor.head.weight.grad, weighted.predictor.head.weight.grad
    assert not torch.allclose(g0, g1)  # the L1 term's gradient reaches the output head
