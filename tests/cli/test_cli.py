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


@pytest.fixture(scope="module")
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
    assert any(n.startswith("test/fad_clap") for n in names)
    assert len(report["clips_rank0"]) == 6  # 2 test scenes × 3 chunks, each once
    assert len(list((out / "wav").glob("*.ref.wav"))) == 6 and len(list((out / "wav").glob("*.wav"))) == 12
    assert list((run / "test" / "version_0").glob("events.out.tfevents.*"))


@pytest.fixture(scope="module")
def tiny_extraction_models(tmp_path_factory):
    """Small randomly initialised depth model and detector of the real transformers classes, saved as folders."""
    from helpers import tiny_depth_anything, tiny_rtdetr

    root = tmp_path_factory.mktemp("models")
    for name, (model, processor) in (("depth", tiny_depth_anything()), ("detector", tiny_rtdetr())):
        model.save_pretrained(root / name)
        processor.save_pretrained(root / name)
    return root


def test_predict_on_a_new_video_writes_stereo_44k_mp4_of_the_input_duration(tiny_run, tiny_extraction_models, tmp_path):
    import av

    from stereosync.data.synthetic import generate_scene, write_mp4

    video = write_mp4(generate_scene(seed=123, duration=5.0, sample_rate=16000), tmp_path / "new clip.mp4")
    run, common, ckpt = tiny_run
    models = {
        "depth_model": str(tiny_extraction_models / "depth"),
        "image_encoder": "none",
        "detector": str(tiny_extraction_models / "detector"),
        "num_objects": 2,
        "device": "cpu",
    }
    out = tmp_path / "predict"
    cli_main(
        [
            "predict",
            *common,
            f"--ckpt_path={ckpt}",
            f"--data.predict_videos={video}",
            f"--data.predict_models={json.dumps(models)}",
            f"--data.predict_dir={tmp_path / 'features'}",
            f"--trainer.default_root_dir={out}",
            f"--trainer.logger.init_args.save_dir={out}",
        ]
    )
    mp4 = next(out.rglob("new clip.mp4"))
    with av.open(str(mp4)) as c:
        a, v = c.streams.audio[0], c.streams.video[0]
        assert (a.rate, a.codec_context.channels) == (44100, 2)
        assert float(v.average_rate) == 30
        audio_seconds = sum(f.samples for f in c.decode(a)) / a.rate
    assert abs(audio_seconds - 5.0) <= 1 / 30 + 1024 / 44100  # within a frame (plus AAC priming)
    assert next(out.rglob("new clip.wav")).is_file()


def test_predict_refuses_a_silent_video_with_a_clear_message(tiny_run, tiny_extraction_models, tmp_path):
    import av
    import numpy as np

    silent = tmp_path / "silent.mp4"
    with av.open(str(silent), "w") as c:
        s = c.add_stream("mpeg4", rate=30)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for _ in range(90):
            for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    run, common, ckpt = tiny_run
    models = {
        "depth_model": str(tiny_extraction_models / "depth"),
        "image_encoder": "none",
        "detector": str(tiny_extraction_models / "detector"),
        "num_objects": 2,
        "device": "cpu",
    }
    with pytest.raises(ValueError, match=r"silent.mp4.*no envelope source"):
        cli_main(
            [
                "predict",
                *common,
                f"--ckpt_path={ckpt}",
                f"--data.predict_videos={silent}",
                f"--data.predict_models={json.dumps(models)}",
                f"--data.predict_dir={tmp_path / 'features'}",
                f"--trainer.default_root_dir={tmp_path}",
                f"--trainer.logger.init_args.save_dir={tmp_path}",
            ]
        )
