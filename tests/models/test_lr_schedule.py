"""The learning-rate schedule: constant by default, or a per-step cosine anneal over trainer.max_steps."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pytest
import torch
from helpers import tiny_module

from datamodules.shards import ShardDataModule
from stereosync.training.optimizer import lr_factor


def test_cosine_factor_runs_from_one_to_the_floor_and_stays_there():
    assert lr_factor(7, "constant", 10, 0.05) == 1.0
    assert lr_factor(0, "cosine", 10, 0.05) == 1.0
    assert math.isclose(lr_factor(5, "cosine", 10, 0.05), 0.525)
    assert math.isclose(lr_factor(10, "cosine", 10, 0.05), 0.05) and math.isclose(
        lr_factor(30, "cosine", 10, 0.05), 0.05
    )
    factors = [lr_factor(s, "cosine", 10, 0.0) for s in range(11)]
    assert all(a > b for a, b in zip(factors, factors[1:]))
    with pytest.raises(ValueError, match="unknown lr_schedule 'linear'"):
        lr_factor(0, "linear", 10, 0.05)


class _LrLog(pl.Callback):
    def __init__(self):
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def _trainer(max_steps: int, callbacks=()) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        enable_model_summary=False,
        callbacks=list(callbacks),
    )


def test_a_fit_anneals_the_rate_every_optimiser_step(tiny_backbone, synthetic_root):
    module = tiny_module(tiny_backbone, controlnet_checkpointing=False, lr=1e-3, lr_schedule="cosine", lr_min_ratio=0.1)
    dm = ShardDataModule(
        train_shards=str(synthetic_root / "train" / "shards"), sample_rate=16000, batch_size=2, num_workers=0
    )
    log = _LrLog()
    _trainer(4, [log]).fit(module, datamodule=dm)
    assert log.lrs == pytest.approx([1e-3 * lr_factor(s, "cosine", 4, 0.1) for s in range(4)])
    assert module.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-4)  # the floor after step 4


def test_the_default_is_a_constant_rate_and_cosine_needs_max_steps(tiny_backbone, synthetic_root):
    assert isinstance(tiny_module(tiny_backbone).configure_optimizers(), torch.optim.AdamW)
    module = tiny_module(tiny_backbone, lr_schedule="cosine")
    dm = ShardDataModule(train_shards=str(synthetic_root / "train" / "shards"), sample_rate=16000, num_workers=0)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False)
    with pytest.raises(ValueError, match="trainer.max_steps"):
        trainer.fit(module, datamodule=dm)
