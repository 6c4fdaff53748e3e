"""Precomputed latents: shards rewritten with latents train exactly as the audio they came from, without a VAE."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from helpers import tiny_module

from datamodules.shards import ShardDataModule
from stereosync.data import pipeline
from stereosync.data.latents import main as latents_main
from stereosync.data.latents import read_shard
from stereosync.lightning_module import StereoSync
from stereosync.models.envelope_control import EnvelopeControl


def _module(backbone: torch.nn.Module) -> StereoSync:
    return tiny_module(
        backbone,
        envelope=EnvelopeControl(from_batch=True),  # the synthetic shards store the scene's envelope
        controlnet_checkpointing=False,
        cfg_dropout=0.0,
    )


def _batch(shard) -> dict:
    """Samples of one shard as the training loader would collate them (crop from 0, peak-normalised)."""
    samples = [pipeline.augment(s, 2.0, None, peak_normalise=True, polarity_flip=False) for s in read_shard(shard)]
    return pipeline.collate(samples, {})


@pytest.fixture(scope="module")
def train_shards(synthetic_root):
    return sorted((synthetic_root / "train" / "shards").glob("*.tar"))


def _no_encoder(*_, **__):
    raise AssertionError("the VAE encoder ran although the batch carries latents")


@pytest.mark.parametrize("envelope_latent", [True, False], ids=["envelope_latent", "stored_envelope"])
def test_latent_shards_give_the_loss_of_the_audio(tiny_backbone, train_shards, tmp_path, monkeypatch, envelope_latent):
    args = ["--shards", str(train_shards[0]), "--model-config", "tiny", "--out", str(tmp_path), "--drop", "audio"]
    out = latents_main(args + ([] if envelope_latent else ["--no-envelope-latent"]))
    assert [p.name for p in out] == [train_shards[0].name]
    from_audio, from_latent = _batch(train_shards[0]), _batch(out[0])
    assert "audio" not in from_latent and "latent" in from_latent
    assert ("envelope_latent" in from_latent) == envelope_latent
    # Independent expectation: the latent is the pretransform of the peak-normalised audio, unscaled.
    expected = tiny_backbone.encode(from_audio["audio"]) / tiny_backbone.latent_scale
    torch.testing.assert_close(from_latent["latent"], expected, rtol=1e-5, atol=1e-6)

    module = _module(tiny_backbone)
    t = torch.tensor([0.3, 0.8])[: from_audio["clap"].shape[0]]
    ref = module.loss(from_audio, t, noise_generator=torch.Generator().manual_seed(5))
    if envelope_latent:  # neither the audio latent nor the control latent may touch the VAE
        monkeypatch.setattr(tiny_backbone.pretransform, "encode", _no_encoder)
    ours = module.loss(from_latent, t, noise_generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)


def test_latent_shards_record_how_they_were_made(train_shards, tmp_path):
    out = latents_main(
        ["--shards", str(train_shards[0]), "--model-config", "tiny", "--out", str(tmp_path), "--dtype", "float16"]
    )
    sample = next(read_shard(out[0]))
    assert sample["latent"].dtype == np.float16 and sample["envelope_latent"].dtype == np.float16
    assert np.abs(sample["audio"]).max() == pytest.approx(1.0, abs=1e-6)  # stored normalised: loader no-op
    meta = sample["json"]["latents"]
    assert meta["model_config"] == "tiny" and meta["peak_normalised"] and meta["dtype"] == "float16"
    with pytest.raises(ValueError, match="holds input shards"):
        latents_main(["--shards", str(out[0]), "--model-config", "tiny", "--out", str(tmp_path)])


def test_fit_on_latent_shards_never_runs_the_encoder(tiny_backbone, train_shards, tmp_path, monkeypatch):
    folder = tmp_path / "latent"
    latents_main(
        ["--shards", *map(str, train_shards), "--model-config", "tiny", "--out", str(folder)]
        + ["--drop", "audio", "envelope"]
    )
    dm = ShardDataModule(
        train_shards=str(folder), sample_rate=16000, batch_size=2, num_workers=0, steps_per_epoch=2, shuffle_buffer=4
    )
    module = _module(tiny_backbone)
    monkeypatch.setattr(tiny_backbone.pretransform, "encode", _no_encoder)
    before = {k: v.clone() for k, v in module.model.controlnet.state_dict().items()}
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=dm)
    assert trainer.global_step == 2
    after = module.model.controlnet.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_latents_of_another_pretransform_are_refused_by_name(train_shards, tmp_path):
    """Shards whose latents come from the `patched` config cannot feed a parametric-stereo backbone."""
    from stereosync.models.backbone import Backbone

    out = latents_main(["--shards", str(train_shards[0]), "--model-config", "tiny", "--out", str(tmp_path)])
    sample = next(read_shard(out[0]))
    sample["__url__"] = str(out[0])
    module = _module(Backbone("tiny_ps", latent_scale=10.0, activation_checkpointing=False))
    with pytest.raises(ValueError, match=r"latent has 512 channels \(made with model_config 'tiny'\).*288") as err:
        module.model.check_sample(sample)
    assert str(out[0]) in str(err.value) and sample["__key__"] in str(err.value)
