"""An envelope-predictor file records the sample rate it was trained at, and predict refuses a file that does
not fit the run (datamodules.predict.check_envelope_predictor) before extracting anything."""

from __future__ import annotations

import pytest
import torch

from datamodules.predict import check_envelope_predictor
from stereosync.envelope_training import EnvelopePredictorModule, export
from stereosync.models.envelope_predictor import EnvelopePredictor, file_info

SHIPPED = "pkg://stereosync/weights/tiny_envelope_predictor.safetensors"


def test_the_shipped_predictor_records_its_16_khz_training_rate():
    config, rate = file_info(SHIPPED)
    assert rate == 16000 and config["num_objects"] == 2


def test_export_records_the_rate_of_the_module(tmp_path):
    module = EnvelopePredictorModule(num_objects=1, hidden=8, sample_rate=44100)
    ckpt = tmp_path / "m.ckpt"
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, ckpt)
    export(ckpt, tmp_path / "p.safetensors")
    config, rate = file_info(tmp_path / "p.safetensors")
    assert (rate, config["num_objects"]) == (44100, 1)
    check_envelope_predictor(str(tmp_path / "p.safetensors"), 44100, 1, "silent v.mp4")  # fits: no error


def test_a_predictor_of_another_rate_is_refused_naming_the_flag():
    with pytest.raises(ValueError, match=r"16000-Hz audio but data.sample_rate is 44100.*--data.envelope_predictor"):
        check_envelope_predictor(SHIPPED, 44100, 2, "silent v.mp4")


def test_a_predictor_of_another_object_count_or_without_a_rate_is_refused(tmp_path):
    with pytest.raises(ValueError, match="reads 2 tracked objects but the extraction keeps 1"):
        check_envelope_predictor(SHIPPED, 16000, 1, "silent v.mp4")
    EnvelopePredictor(num_objects=1, hidden=8).save_pretrained(tmp_path / "norate.safetensors")
    with pytest.raises(ValueError, match="records no training sample rate"):
        check_envelope_predictor(str(tmp_path / "norate.safetensors"), 44100, 1, "silent v.mp4")
    with pytest.raises(ValueError, match="data.envelope_predictor is not set"):
        check_envelope_predictor(None, 44100, 1, "silent v.mp4")


def test_training_at_a_rate_other_than_the_shards_is_refused():
    from datamodules.shards import ShardDataModule

    class Trainer:
        datamodule = ShardDataModule(sample_rate=44100)  # no shards: only the rates are compared

    module = EnvelopePredictorModule(num_objects=1, hidden=8, sample_rate=16000)
    module._trainer = Trainer()
    with pytest.raises(ValueError, match="data.sample_rate is 44100 Hz but model.init_args.sample_rate is 16000"):
        module.setup("fit")


def test_test_with_the_predicted_envelope_refuses_a_predictor_of_another_rate_at_setup(synthetic_root, tmp_path):
    """``envelope_source: predicted`` at ``test`` reads the test shards' rate and K before any batch."""
    from datamodules.shards import ShardDataModule

    shards = str(synthetic_root / "test" / "shards")
    args = dict(synthetic=None, test_shards=shards, sample_rate=16000, envelope_source="predicted", num_workers=0)
    ShardDataModule(**args, envelope_predictor=SHIPPED).setup("test")  # 16 kHz, K = 2: fits
    module = EnvelopePredictorModule(num_objects=2, hidden=8, sample_rate=44100)
    ckpt = tmp_path / "m.ckpt"
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, ckpt)
    export(ckpt, tmp_path / "p44.safetensors")
    with pytest.raises(ValueError, match=r"44100-Hz audio but data.sample_rate is 16000.*at test"):
        ShardDataModule(**args, envelope_predictor=str(tmp_path / "p44.safetensors")).setup("test")
