"""The command line as a user runs it: print_config, the tiny fit, then test from the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from stereosync.cli import cli_main

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))  # full recipes; presets and ablation deltas stack on them


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_print_config_parses_and_round_trips(config, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["fit", "--config", str(config), "--print_config"])
    assert exit_.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    if "class_path" in printed["model"]:  # a recipe of another LightningModule (subclass mode)
        assert printed["model"]["class_path"] == "stereosync.envelope_training.EnvelopePredictorModule"
    else:
        assert printed["model"]["backbone"]["class_path"] == "stereosync.models.backbone.Backbone"
    (tmp_path / "resolved.yaml").write_text(yaml.safe_dump(printed))
    with pytest.raises(SystemExit):
        cli_main(["fit", "--config", str(tmp_path / "resolved.yaml"), "--print_config"])
    assert yaml.safe_load(capsys.readouterr().out) == printed


def test_tiny_fit_writes_logs_config_and_a_small_trainable_only_checkpoint(tiny_run):
    run, _, ckpt = tiny_run
    version = run / "version_0"
    assert (version / "config.yaml").is_file()
    assert list(version.glob("events.out.tfevents.*"))
    assert ckpt.is_file() and ckpt.stat().st_size < 20 * 2**20
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    assert state and not any(k.startswith("model.backbone.") for k in state)
    assert any(k.startswith("model.controlnet.") for k in state)


def test_test_from_checkpoint_writes_wavs_metrics_and_scalars(tiny_run):
    run, common, ckpt = tiny_run
    cli_main(
        [
            "test",
            *common,
            "--model.sampler.steps=3",  # an evaluation-time override wins over the checkpoint (fit used 4)
            f"--ckpt_path={ckpt}",
            f"--trainer.default_root_dir={run / 'test'}",
        ]
    )
    out = run / "test" / "version_0" / "test"
    report = json.loads((out / "metrics.json").read_text())
    assert report["sampler"]["steps"] == 3
    names = set(report["metrics"])
    assert {"test/e_l1", "test/spatial_av_align", "test/pan_corr"} <= names
    # the synthetic shards carry binaural and FOA: the two-stage renders of the generated audio are scored
    assert {"test/binaural_spatial_av_align", "test/azimuth_mae", "test/foa_doa_error"} <= names
    assert {"test/event_f1_33ms", "test/event_f1_67ms", "test/event_offset_ms"} <= names  # synthetic: v3 events
    assert any(n.startswith("test/fad_clap") for n in names)
    assert len(report["clips_rank0"]) == 6  # 2 test scenes × 3 chunks, each once
    assert len(list((out / "wav").glob("*.ref.wav"))) == 6 and len(list((out / "wav").glob("*.wav"))) == 12
    assert list((run / "test" / "version_0").glob("events.out.tfevents.*"))
