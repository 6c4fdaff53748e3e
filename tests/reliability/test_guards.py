"""Non-finite guard and start-up configuration errors."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from datamodules.shards import ShardDataModule
from stereosync.cli import cli_main
from stereosync.lightning_module import StereoSync
from stereosync.models.encoders import BoxEncoder, ClapEncoder
from stereosync.models.envelope_control import EnvelopeControl

ROOT = Path(__file__).resolve().parents[2]


class PoisonedLoss(StereoSync):
    """A StereoSync whose loss is NaN on chosen global steps."""

    poison_steps: set[int] = set()

    def loss(self, batch, t, noise_generator=None, cfg_dropout=0.0):
        loss = super().loss(batch, t, noise_generator, cfg_dropout)
        return loss * float("nan") if self.training and self.global_step in self.poison_steps else loss


def _fit(tiny_backbone, synthetic_root, poison: set[int], max_steps: int, max_nonfinite: int = 3, **kwargs):
    torch.manual_seed(0)
    module = PoisonedLoss(
        tiny_backbone,
        boxes=BoxEncoder(128, num_objects=2),
        clap=ClapEncoder(128),
        envelope=EnvelopeControl(),
        controlnet_depth_factor=0.5,
        controlnet_checkpointing=False,
        max_nonfinite_steps=max_nonfinite,
        **kwargs,
    )
    module.poison_steps = poison
    dm = ShardDataModule(
        train_shards=str(synthetic_root / "train" / "shards"),
        sample_rate=16000,
        batch_size=2,
        num_workers=0,
        steps_per_epoch=20,
    )
    return module, dm, _trainer(max_steps)


def _trainer(max_steps: int, gradient_clip_val: float | None = None) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        gradient_clip_val=gradient_clip_val,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        enable_model_summary=False,
    )


def test_nonfinite_steps_are_skipped_counted_and_warned(tiny_backbone, synthetic_root, caplog):
    module, dm, trainer = _fit(tiny_backbone, synthetic_root, poison={1, 2}, max_steps=4)
    before = {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}
    seen = []
    orig = module.on_before_optimizer_step

    def spy(optimizer):
        orig(optimizer)
        seen.append({n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad})

    module.on_before_optimizer_step = spy
    with caplog.at_level(logging.WARNING, logger="stereosync.training.guard"):
        trainer.fit(module, dm)
    assert module.nonfinite_total == 2 and module.nonfinite_run == 0
    assert sum("non-finite loss/gradient, optimiser step skipped" in r.message for r in caplog.records) == 2
    # the poisoned steps left every parameter as it was before them
    assert all(torch.equal(seen[1][n], seen[2][n]) and torch.equal(seen[2][n], seen[3][n]) for n in before)
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_consecutive_nonfinite_steps_stop_training_with_step_and_keys(tiny_backbone, synthetic_root):
    module, dm, trainer = _fit(tiny_backbone, synthetic_root, poison=set(range(100)), max_steps=10, max_nonfinite=3)
    with pytest.raises(
        RuntimeError, match=r"3 consecutive non-finite steps, the last at global step 2 with " r"batch keys \['train_"
    ):
        trainer.fit(module, dm)


def _cli(*extra: str, synthetic_root: Path, tmp_path: Path) -> list[str]:
    return [
        "fit",
        "--config",
        str(ROOT / "configs" / "tiny.yaml"),
        "--data.synthetic=null",
        f"--data.train_shards={synthetic_root / 'train' / 'shards'}",
        f"--data.val_shards={synthetic_root / 'val' / 'shards'}",
        f"--trainer.default_root_dir={tmp_path}",
        "--data.num_workers=0",
        *extra,
    ]


def test_typo_in_a_config_key_fails_at_parse_time_naming_it(capsys, synthetic_root, tmp_path):
    with pytest.raises(SystemExit):
        cli_main(_cli("--model.lrr=0.1", synthetic_root=synthetic_root, tmp_path=tmp_path))
    assert "lrr" in capsys.readouterr().err


def test_missing_weights_file_fails_before_training_naming_it(synthetic_root, tmp_path):
    missing = tmp_path / "sao" / "model.safetensors"
    with pytest.raises(Exception, match=str(missing)):
        cli_main(
            _cli(f"--model.backbone.init_args.weights={missing}", synthetic_root=synthetic_root, tmp_path=tmp_path)
        )


@pytest.mark.parametrize(
    "override, message",
    [
        ("--model.boxes.init_args.num_objects=3", r"boxes track 2 objects but model.boxes.init_args.num_objects = 3"),
        ("--model.clap.init_args.clap_dim=256", r"clap is 512-d but model.clap.init_args.clap_dim = 256"),
    ],
)
def test_shard_model_mismatch_fails_at_startup_naming_shard_and_key(override, message, synthetic_root, tmp_path):
    with pytest.raises(ValueError, match=message) as err:
        cli_main(_cli(override, "--trainer.max_steps=1", synthetic_root=synthetic_root, tmp_path=tmp_path))
    assert "train-000000.tar" in str(err.value) and "sample train_" in str(err.value)


def test_data_sample_rate_must_match_the_backbone(synthetic_root, tmp_path):
    with pytest.raises(ValueError, match=r"data.sample_rate = 44100 but the backbone runs at 16000 Hz"):
        cli_main(
            _cli("--data.sample_rate=44100", "--trainer.max_steps=1", synthetic_root=synthetic_root, tmp_path=tmp_path)
        )


def test_norm_clipping_reuses_the_guard_norm_and_matches_torch(tiny_backbone, synthetic_root):
    """Clipping with the guard's total norm leaves exactly the gradients torch's clip_grad_norm_ would."""
    module, dm, _ = _fit(tiny_backbone, synthetic_root, poison=set(), max_steps=3, clip_in_optimizer=False)
    trainer = _trainer(3, gradient_clip_val=1e-3)  # far below the tiny model's gradient norm: every step clips
    checked = []
    orig = module.configure_gradient_clipping

    def spy(optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        expected = [p.grad.clone() for p in params]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(e) for e in expected]))
        torch._foreach_mul_(expected, min(1.0, gradient_clip_val / (float(norm) + 1e-6)))
        assert module._grad_norm is not None and torch.allclose(module._grad_norm, norm)
        orig(optimizer, gradient_clip_val, gradient_clip_algorithm)
        for p, e in zip(params, expected):
            torch.testing.assert_close(p.grad, e)
        checked.append(float(norm))

    module.configure_gradient_clipping = spy
    trainer.fit(module, datamodule=dm)
    assert len(checked) == 3 and all(n > 1e-3 for n in checked)


def test_clipping_inside_fused_adamw_gives_the_same_weights(tiny_backbone, synthetic_root):
    """clip_in_optimizer folds the clip into fused AdamW's grad_scale: the weights of clipping the gradients.

    (Sensitive: without clipping the weights after these 3 steps differ by up to 2e-4.)
    """
    weights, scales = {}, []
    for inside in (False, True):
        module, dm, _ = _fit(tiny_backbone, synthetic_root, poison=set(), max_steps=3, clip_in_optimizer=inside)
        orig = module.configure_gradient_clipping

        def spy(optimizer, gradient_clip_val=None, gradient_clip_algorithm=None, orig=orig):
            assert "grad_scale" not in optimizer.__dict__  # the previous step's scale was dropped
            orig(optimizer, gradient_clip_val, gradient_clip_algorithm)
            scales.append(getattr(optimizer, "grad_scale", None))

        module.configure_gradient_clipping = spy
        pl.seed_everything(0)
        _trainer(3, gradient_clip_val=1e-3).fit(module, datamodule=dm)
        weights[inside] = [p.detach().clone() for p in module.model.trainable_parameters()]
    assert len(scales) == 6 and scales[:3] == [None] * 3  # the multiply path sets no scale
    assert all(isinstance(s, torch.Tensor) and float(s) > 1 for s in scales[3:])
    for a, b in zip(weights[False], weights[True]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_clipping_above_the_norm_touches_nothing(tiny_backbone, synthetic_root):
    """A clip threshold above the gradient norm leaves gradients and optimiser untouched (no pass at all)."""
    module, dm, _ = _fit(tiny_backbone, synthetic_root, poison=set(), max_steps=3)
    orig = module.configure_gradient_clipping
    seen = []

    def spy(optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        grads = [p.grad.clone() for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        orig(optimizer, gradient_clip_val, gradient_clip_algorithm)
        after = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        assert all(torch.equal(a, b) for a, b in zip(grads, after)) and "grad_scale" not in optimizer.__dict__
        seen.append(len(grads))

    module.configure_gradient_clipping = spy
    _trainer(3, gradient_clip_val=1e9).fit(module, datamodule=dm)
    assert len(seen) == 3 and all(n > 0 for n in seen)
