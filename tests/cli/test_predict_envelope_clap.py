"""An envelope predictor that reads CLAP (``clap_dim`` > 0) where the predictor runs: ``predict`` on a silent
video gives it the reference recording's embedding, the one the generator receives; a run whose model has no
CLAP stream refuses it at start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import silent_mp4

from stereosync.cli import cli_main
from stereosync.data.synthetic import generate_scene
from stereosync.models.envelope_predictor import EnvelopePredictor


def _conditioned(path: Path) -> Path:
    """A CLAP-reading predictor (16 kHz, K = 2) whose FiLM layer is away from its zero start, as after training."""
    torch.manual_seed(0)
    model = EnvelopePredictor(num_objects=2, hidden=16, clap_dim=512)
    with torch.no_grad():
        model.film.weight.normal_(0.0, 0.5)
    model.save_pretrained(path, sample_rate=16000)
    return path


def _silent_video_datamodule(seed, envelope_predictor, models_json, reference_wav, tmp_path):
    """A predict datamodule over one silent 3-s scene video, voiced with the reference recording."""
    from datamodules.shards import ShardDataModule

    video = silent_mp4(generate_scene(seed=seed, duration=3.0, sample_rate=16000), tmp_path / "quiet.mp4")
    return ShardDataModule(
        sample_rate=16000,
        batch_size=2,
        num_workers=0,
        predict_videos=str(video),
        predict_models=json.loads(models_json),
        predict_dir=str(tmp_path / "features"),
        clap_reference=str(reference_wav),
        envelope_predictor=envelope_predictor,
    )


def test_predict_gives_the_predictor_the_reference_recordings_embedding(models_json, reference_wav, tmp_path):
    from datamodules.predict import reference_clap

    path = _conditioned(tmp_path / "clap_predictor.safetensors")
    dm = _silent_video_datamodule(505, str(path), models_json, reference_wav, tmp_path)
    batches = list(dm.predict_dataloader())
    assert batches and all("control_envelope" in b for b in batches)
    reference = torch.from_numpy(reference_clap(str(reference_wav), dm.predict_models))
    model = EnvelopePredictor.from_pretrained(path)
    for b in batches:
        n, samples = b["motion"].shape[0], b["control_envelope"].shape[-1]
        assert torch.equal(b["clap"], reference.expand(n, -1))  # the generator's timbre reference
        x = (b["motion"], b["boxes"], b["box_mask"], samples)
        torch.testing.assert_close(b["control_envelope"], model.predict(*x, reference.expand(n, -1)))
        other = model.predict(*x, torch.roll(reference, 1).expand(n, -1))
        assert (other - b["control_envelope"]).abs().mean() > 1e-4  # the embedding is what set it


def test_predict_averages_a_list_of_predictors_on_a_silent_video(models_json, reference_wav, tmp_path):
    """``data.envelope_predictor`` as a list at ``predict``: the mean of the picture-only and the CLAP-reading
    predictor's envelopes, the latter given the reference recording's embedding."""
    from datamodules.predict import reference_clap
    from stereosync.models.envelope_ensemble import EnvelopeEnsemble

    shipped = "pkg://stereosync/weights/tiny_envelope_predictor.safetensors"
    files = [shipped, str(_conditioned(tmp_path / "c.safetensors"))]
    dm = _silent_video_datamodule(506, files, models_json, reference_wav, tmp_path)
    dm.setup("predict")
    batches = list(dm.predict_dataloader())
    assert batches and all("control_envelope" in b for b in batches)
    reference = torch.from_numpy(reference_clap(str(reference_wav), dm.predict_models))
    ensemble = EnvelopeEnsemble.from_pretrained(files)
    for b in batches:
        n = b["motion"].shape[0]
        x = (b["motion"], b["boxes"], b["box_mask"], b["control_envelope"].shape[-1])
        torch.testing.assert_close(b["control_envelope"], ensemble.predict(*x, reference.expand(n, -1)))


def test_a_silent_video_is_voiced_with_a_clap_reading_predictor(tiny_run, models_json, reference_wav, tmp_path):
    _, common, ckpt = tiny_run
    path = _conditioned(tmp_path / "clap_predictor.safetensors")
    video = silent_mp4(generate_scene(seed=506, duration=2.5, sample_rate=16000), tmp_path / "quiet.mp4")
    out = tmp_path / "run"
    cli_main(
        [
            "predict",
            *common,
            f"--ckpt_path={ckpt}",
            f"--data.predict_models={models_json}",
            f"--trainer.default_root_dir={out}",
            f"--data.predict_videos={video}",
            f"--data.clap_reference={reference_wav}",
            f"--data.envelope_predictor={path}",
        ]
    )
    assert (out / "version_0" / "predict" / "quiet.mp4").is_file()


def test_a_model_without_clap_refuses_a_clap_reading_predictor_at_start_up(tiny_run, tmp_path):
    _, common, ckpt = tiny_run
    path = _conditioned(tmp_path / "clap_predictor.safetensors")
    args = [
        "test",
        *common,
        f"--ckpt_path={ckpt}",
        "--model.fad=false",
        "--model.clap=null",
        "--data.envelope_source=predicted",
        f"--data.envelope_predictor={path}",
        f"--trainer.default_root_dir={tmp_path / 'test'}",
    ]
    with pytest.raises(ValueError, match=rf"{path} reads a CLAP embedding .* but the model has no CLAP stream"):
        cli_main(args)
