"""Fixtures of the command-line tests: one tiny fit through the CLI, tiny random extraction models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stereosync.cli import cli_main

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="package")
def tiny_run(synthetic_root, tmp_path_factory):
    """A 6-step tiny fit through the CLI; yields (run folder, common args, checkpoint)."""
    run = tmp_path_factory.mktemp("run")
    common = [
        "--config",
        str(ROOT / "configs" / "tiny.yaml"),
        f"--trainer.default_root_dir={run}",  # the one run-folder key: logs and checkpoints follow it
        "--model.sampler.steps=4",
        *_data_args(synthetic_root),
    ]
    cli_main(["fit", *common, "--trainer.max_steps=6"])
    return run, common, run / "version_0" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="package")
def tiny_extraction_models(tmp_path_factory):
    """Small randomly initialised depth model and detector of the real transformers classes, saved as folders."""
    from helpers import tiny_depth_anything, tiny_rtdetr

    root = tmp_path_factory.mktemp("models")
    for name, (model, processor) in (("depth", tiny_depth_anything()), ("detector", tiny_rtdetr())):
        model.save_pretrained(root / name)
        processor.save_pretrained(root / name)
    return root


@pytest.fixture(scope="package")
def models_json(tiny_extraction_models):
    """``--data.predict_models`` naming the tiny random extraction models (K = 2, CPU)."""
    return json.dumps(
        {
            "depth_model": str(tiny_extraction_models / "depth"),
            "image_encoder": "none",
            "detector": str(tiny_extraction_models / "detector"),
            "num_objects": 2,
            "device": "cpu",
        }
    )


@pytest.fixture(scope="package")
def reference_wav(tmp_path_factory):
    """A 3-s synthetic footstep recording (16 kHz wav): a reference sound for silent videos."""
    from callbacks.test_writer import write_wav
    from stereosync.data.synthetic import generate_scene

    scene = generate_scene(seed=77, duration=3.0, sample_rate=16000)
    path = tmp_path_factory.mktemp("ref") / "steps.wav"
    write_wav(path, scene.audio, 16000)
    return path
