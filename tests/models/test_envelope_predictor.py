"""The envelope predictor: shapes and rates, both output designs, files, its training recipe, the shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stereosync.data.synthetic import generate_scene, scene_to_samples
from stereosync.models.envelope_predictor import EnvelopePredictor, inverse_mulaw, mulaw

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = "pkg://stereosync/weights/tiny_envelope_predictor.safetensors"


def _batch(seeds=(11, 12), sr=16000):
    samples = [s for seed in seeds for s in scene_to_samples(generate_scene(seed, duration=4.0, sample_rate=sr))]
    stack = {
        k: torch.from_numpy(np.stack([s[k] for s in samples])) for k in ("motion", "boxes", "box_mask", "envelope")
    }
    peak = torch.from_numpy(np.stack([np.abs(s["audio"]).max() for s in samples])).float()
    stack["envelope"] = stack["envelope"] / peak[:, None, None]  # the DataModule's peak normalisation
    return stack


@pytest.mark.parametrize("output", ["mulaw", "log"])
def test_output_shape_rate_and_audio_rate_envelope(output):
    model = EnvelopePredictor(num_objects=2, output=output, upsample=2)
    b = _batch(seeds=(11,))
    raw = model(b["motion"], b["boxes"], b["box_mask"])
    assert raw.shape == ((2, 120, 64) if output == "mulaw" else (2, 120))
    env = model.predict(b["motion"], b["boxes"], b["box_mask"], num_samples=32000)
    assert env.shape == (2, 2, 32000) and (env >= 0).all() and torch.equal(env[:, 0], env[:, 1])
    assert model.training  # predict() restores the mode
    with pytest.raises(ValueError, match="built for 2 objects"):
        model(b["motion"][..., :15], b["boxes"][:, :, :1], b["box_mask"][:, :, :1])


@pytest.mark.parametrize("output", ["mulaw", "log"])
def test_a_few_steps_fit_real_scenes(output):
    torch.manual_seed(0)
    model = EnvelopePredictor(num_objects=2, output=output)
    b = _batch()
    target = model.target(b["envelope"], 60)
    assert target.shape == (4, 120)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model.loss(model(b["motion"], b["boxes"], b["box_mask"]), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]


def test_mulaw_round_trip_and_a_file_round_trip(tmp_path):
    x = torch.linspace(0, 1, 101)
    torch.testing.assert_close(inverse_mulaw(mulaw(x, 255.0), 255.0), x, atol=1e-5, rtol=0)
    model = EnvelopePredictor(num_objects=2, hidden=32, output="log").eval()
    model.save_pretrained(tmp_path / "p.safetensors")
    again = EnvelopePredictor.from_pretrained(tmp_path / "p.safetensors")
    b = _batch(seeds=(11,))
    torch.testing.assert_close(
        again(b["motion"], b["boxes"], b["box_mask"]), model(b["motion"], b["boxes"], b["box_mask"])
    )
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not an envelope-predictor file"):
        EnvelopePredictor.from_pretrained(tmp_path / "other.safetensors")


def test_the_shipped_predictor_loads_offline_and_follows_held_out_steps():
    from stereosync.metrics.functional import envelope_onsets, onset_f1

    model = EnvelopePredictor.from_pretrained(SHIPPED)
    assert (ROOT / "src/stereosync/weights/tiny_envelope_predictor.safetensors").stat().st_size < 5e6
    b = _batch(seeds=tuple(range(901, 911)))  # scenes of no training split
    pred = model.predict(b["motion"], b["boxes"], b["box_mask"], 32000)[:, 0]
    ref = b["envelope"].mean(1)
    e_l1 = (pred - ref).abs().mean()
    flat = (ref.mean(-1, keepdim=True) - ref).abs().mean()  # the best constant per chunk
    assert e_l1 < 0.75 * flat  # measured 0.62 × on these scenes
    f1 = np.mean(
        [onset_f1(envelope_onsets(p.numpy(), 16000), envelope_onsets(r.numpy(), 16000)) for p, r in zip(pred, ref)]
    )
    assert f1 > 0.6  # measured 0.74; a constant envelope has no onset


def test_the_recipe_trains_through_the_cli_and_exports(synthetic_root, tmp_path):
    from stereosync.cli import cli_main
    from stereosync.envelope_training import main as tool

    run = tmp_path / "run"
    cli_main(
        [
            "fit",
            "--config",
            str(ROOT / "configs" / "envelope_predictor.yaml"),
            "--data.synthetic=null",
            f"--data.train_shards={synthetic_root / 'train' / 'shards'}",
            f"--data.val_shards={synthetic_root / 'val' / 'shards'}",
            "--data.batch_size=4",
            "--data.num_workers=0",
            "--data.steps_per_epoch=2",
            "--trainer.max_steps=4",
            "--trainer.check_val_every_n_epoch=1",
            f"--trainer.default_root_dir={run}",
        ]
    )
    ckpt = run / "version_0" / "checkpoints" / "last.ckpt"
    assert tool(["export", str(ckpt), str(tmp_path / "p.safetensors")]) == 0
    model = EnvelopePredictor.from_pretrained(tmp_path / "p.safetensors")
    assert model.output == "mulaw" and model.num_objects == 2
    assert tool(["export", str(tmp_path / "missing.ckpt"), str(tmp_path / "q.safetensors")]) == 1
