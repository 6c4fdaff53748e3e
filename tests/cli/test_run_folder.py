"""The run folder is configured once: ``trainer.default_root_dir`` places the logger unless it names its own."""

from __future__ import annotations

from pathlib import Path

from stereosync.cli import cli_main

ROOT = Path(__file__).resolve().parents[2]


def _trainer(*overrides: str):
    return cli_main(["--config", str(ROOT / "configs" / "tiny.yaml"), "--data.synthetic=null", *overrides], run=False)


def test_default_root_dir_alone_places_the_logger_and_the_saved_config(tmp_path):
    cli = _trainer(f"--trainer.default_root_dir={tmp_path / 'run'}")
    assert cli.trainer.logger.save_dir == str(tmp_path / "run")
    assert cli.trainer.log_dir == str(tmp_path / "run" / "version_0")
    assert cli.config.trainer.logger.init_args.save_dir == str(tmp_path / "run")  # what config.yaml records


def test_an_explicit_logger_save_dir_is_kept(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    cli = _trainer(f"--trainer.default_root_dir={a}", f"--trainer.logger.init_args.save_dir={b}")
    assert cli.trainer.logger.save_dir == str(tmp_path / "b")
