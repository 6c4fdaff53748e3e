"""``data.envelope_source: predicted`` at ``fit``: the generator trains on the envelope predictor's envelope
(a generator for silent videos), from exported weights, through the real tiny recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from datamodules.shards import ShardDataModule
from stereosync.models.envelope_predictor import EnvelopePredictor

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = "pkg://stereosync/weights/tiny_envelope_predictor.safetensors"


def _data(root: Path, source: str, predictor: str | None = SHIPPED, share: float = 0.0) -> ShardDataModule:
    return ShardDataModule(
        synthetic=None,
        train_shards=str(root / "train" / "shards"),
        val_shards=str(root / "val" / "shards"),
        sample_rate=16000,
        batch_size=2,
        num_workers=0,
        envelope_source=source,
        envelope_predictor=predictor,
        predicted_envelope_share=share,
    )


def test_training_batches_carry_the_predicted_envelope_only_when_asked(synthetic_root):
    batch = next(iter(_data(synthetic_root, "predicted").train_dataloader()))
    expected = EnvelopePredictor.from_pretrained(SHIPPED).predict(
        batch["motion"], batch["boxes"], batch["box_mask"], batch["audio"].shape[-1]
    )
    torch.testing.assert_close(batch["control_envelope"], expected)
    assert "envelope_latent" not in batch
    val = next(iter(_data(synthetic_root, "predicted").val_dataloader()))
    assert val["control_envelope"].shape == val["audio"].shape
    for source in ("auto", "audio"):
        assert "control_envelope" not in next(iter(_data(synthetic_root, source).train_dataloader()))


def test_fit_on_the_predicted_envelope_refuses_a_predictor_that_does_not_fit_at_setup(synthetic_root):
    _data(synthetic_root, "predicted").setup("fit")  # 16 kHz, K = 2: fits
    with pytest.raises(ValueError, match=r"data.envelope_predictor is not set.*at fit"):
        _data(synthetic_root, "predicted", predictor=None).setup("fit")


def test_a_share_of_the_training_batches_takes_the_predicted_envelope(synthetic_root):
    predictor = EnvelopePredictor.from_pretrained(SHIPPED)
    torch.manual_seed(0)
    loader = _data(synthetic_root, "auto", share=0.5).train_dataloader()
    batches = [batch for batch, _ in zip(loader, range(24))]
    mixed = [b for b in batches if "control_envelope" in b]
    assert 0 < len(mixed) < len(batches)  # P(all or none of 24 draws at 0.5) < 1e-6
    for batch in mixed:
        expected = predictor.predict(batch["motion"], batch["boxes"], batch["box_mask"], batch["audio"].shape[-1])
        torch.testing.assert_close(batch["control_envelope"], expected)
    torch.manual_seed(0)
    again = _data(synthetic_root, "auto", share=0.5).train_dataloader()
    assert ["control_envelope" in b for b, _ in zip(again, range(24))] == ["control_envelope" in b for b in batches]
    val = _data(synthetic_root, "auto", share=0.5).val_dataloader()
    assert not any("control_envelope" in b for b in val)  # validation keeps the own audio's envelope
    assert all(
        "control_envelope" in b for b, _ in zip(_data(synthetic_root, "audio", share=1).train_dataloader(), range(4))
    )


def test_a_share_of_predicted_envelopes_is_checked_at_setup(synthetic_root):
    with pytest.raises(ValueError, match=r"data.predicted_envelope_share must be in \[0, 1\], got 1.5"):
        _data(synthetic_root, "auto", share=1.5).setup("fit")
    with pytest.raises(ValueError, match=r"data.envelope_predictor is not set.*predicted_envelope_share=0.5 at fit"):
        _data(synthetic_root, "auto", predictor=None, share=0.5).setup("fit")
    _data(synthetic_root, "auto", predictor=None, share=0.5).setup("test")  # test reads the own audio's envelope


def test_the_tiny_recipe_fine_tunes_its_shipped_weights_on_the_predicted_envelope(synthetic_root, tmp_path):
    from stereosync.cli import cli_main

    cli_main(
        [
            "fit",
            "--config",
            str(ROOT / "configs" / "tiny.yaml"),
            "--ckpt_path=pkg://stereosync/weights/tiny_full_2800.safetensors",
            "--data.synthetic=null",
            f"--data.train_shards={synthetic_root / 'train' / 'shards'}",
            f"--data.val_shards={synthetic_root / 'val' / 'shards'}",
            "--data.envelope_source=predicted",
            f"--data.envelope_predictor={SHIPPED}",
            "--data.num_workers=0",
            "--data.batch_size=2",
            "--trainer.max_steps=2",
            "--trainer.limit_val_batches=1",
            "--trainer.enable_progress_bar=false",
            "--model.fad=false",
            f"--trainer.default_root_dir={tmp_path / 'run'}",
        ]
    )
    assert (tmp_path / "run" / "version_0" / "checkpoints" / "last.ckpt").exists()
