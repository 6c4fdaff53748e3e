"""The TensorBoard sample callback on a CPU: audio, spectrogram images and the pan-vs-box figure are logged."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from callbacks.audio_samples import AudioSampleLogger, pan_track
from datamodules.shards import ShardDataModule
from stereosync.lightning_module import StereoSync
from stereosync.models.encoders import BoxEncoder, ClapEncoder
from stereosync.models.envelope_control import EnvelopeControl
from stereosync.models.sampling import Sampler


def test_samples_are_logged_to_tensorboard(tiny_backbone, synthetic_root, tmp_path):
    torch.manual_seed(0)
    module = StereoSync(
        tiny_backbone,
        boxes=BoxEncoder(128, num_objects=2),
        clap=ClapEncoder(128),
        envelope=EnvelopeControl(),
        controlnet_depth_factor=0.5,
        controlnet_checkpointing=False,
        sampler=Sampler(steps=3),
        fad=False,
    )
    dm = ShardDataModule(
        train_shards=str(synthetic_root / "train" / "shards"),
        val_shards=str(synthetic_root / "val" / "shards"),
        sample_rate=16000,
        batch_size=2,
        num_workers=0,
        steps_per_epoch=2,
    )
    logger = pl.loggers.TensorBoardLogger(tmp_path, name="")
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=4,
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[AudioSampleLogger(every_n_steps=2, num_clips=1)],
        limit_val_batches=1,
        enable_model_summary=False,
    )
    trainer.fit(module, dm)
    events = EventAccumulator(str(tmp_path / "version_0"), size_guidance={"audio": 0, "images": 0}).Reload()
    assert {"samples/0/generated", "samples/0/reference"} <= set(events.Tags()["audio"])
    assert {"samples/0/spectrogram_LR", "samples/0/pan_vs_box"} <= set(events.Tags()["images"])
    assert [e.step for e in events.Audio("samples/0/generated")] == [2, 4]


def test_pan_track_follows_a_hard_panned_source():
    sr = 16000
    t = torch.arange(sr) / sr
    tone = torch.sin(2 * torch.pi * 440 * t) * 0.5
    audio = torch.stack([tone, tone * 0.0])  # hard left
    boxes = torch.tensor([0.0, 0.4, 0.2, 0.9]).repeat(30, 1, 1)
    track = pan_track(audio, boxes, torch.ones(30, 1, dtype=torch.bool), sr)
    assert abs(float(track["pan"][2]) - 0.0) < 1e-6 and abs(float(track["box"][2]) - 0.1) < 1e-6
