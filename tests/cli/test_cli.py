"""The command line as a user runs it: print_config, the tiny fit, then test from the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from stereosync.cli import cli_main

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml") if "trainer" not in p.parts)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_print_config_parses_and_round_trips(config, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["fit", "--config", str(config), "--print_config"])
    assert exit_.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["backbone"]["class_path"] == "stereosync.models.backbone.Backbone"
    (tmp_path / "resolved.yaml").write_text(yaml.safe_dump(printed))
    with pytest.raises(SystemExit):
        cli_main(["fit", "--config", str(tmp_path / "resolved.yaml"), "--print_config"])
    assert yaml.safe_load(capsys.readouterr().out) == printed


def _data_args(root: Path) -> list[str]:
    return [
        "--data.synthetic=null",
        f"--data.train_shards={root / 'train' / 'shards'}",
        f"--data.val_shards={root / 'val' / 'shards'}",
        f"--data.test_shards={root / 'test' / 'shards'}",
        "--data.batch_size=2",
        "--data.steps_per_epoch=3",
        "--data.num_workers=2",
    ]


def test_tiny_fit_then_test_from_checkpoint(synthetic_root, tmp_path):
    run = tmp_path / "run"
    common = [
        "--config",
        str(ROOT / "configs" / "tiny.yaml"),
        f"--trainer.default_root_dir={run}",
        f"--trainer.logger.init_args.save_dir={run}",
        "--model.sampler.steps=4",
        *_data_args(synthetic_root),
    ]
    cli_main(["fit", *common, "--trainer.max_steps=6"])
    version = run / "version_0"
    assert (version / "config.yaml").is_file()
    assert list(version.glob("events.out.tfevents.*"))
    ckpt = version / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and ckpt.stat().st_size < 20 * 2**20
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    assert state and not any(k.startswith("model.backbone.") for k in state)
    assert any(k.startswith("model.controlnet.") for k in state)

    cli_main(["test", *common, f"--ckpt_path={ckpt}"])
    out = run / "version_1" / "test"
    report = json.loads((out / "metrics.json").read_text())
    names = set(report["metrics"])
    assert {"test/e_l1", "test/spatial_av_align", "test/pan_corr"} <= names
    assert any(n.startswith("test/fad_clap") for n in names)
    assert len(report["clips_rank0"]) == 6  # 2 test scenes × 3 chunks, each once
    assert len(list((out / "wav").glob("*.ref.wav"))) == 6 and len(list((out / "wav").glob("*.wav"))) == 12
    assert list((run / "version_1").glob("events.out.tfevents.*"))
