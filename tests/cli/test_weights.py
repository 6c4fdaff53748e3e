"""Which trained weights ``test``/``predict`` use: the recipe's shipped weights when no checkpoint is given (never
untrained ones), exported ``.safetensors`` wherever a checkpoint is accepted, recipes addressed as ``pkg://``; and
the same video voiced with the same seed from two folders under two names gives the same audio."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from stereosync.cli import cli_main
from stereosync.data.synthetic import generate_scene
from stereosync.models.trainable_weights import export_trainable

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = "pkg://stereosync/weights/tiny_full_2800.safetensors"


@pytest.fixture(scope="module")
def silent_video(tmp_path_factory):
    from helpers import silent_mp4

    scene = generate_scene(seed=4242, duration=2.5, sample_rate=16000)
    return silent_mp4(scene, tmp_path_factory.mktemp("v") / "a.mp4")


def _predict(video: Path, out: Path, *extra: str, config: str = str(ROOT / "configs" / "tiny.yaml")) -> np.ndarray:
    """Voice ``video`` with the tiny recipe and its shipped vision models; the written wav as (T, 2)."""
    from stereosync.demo.examples import example_sounds

    cli_main(
        [
            "predict",
            "--config",
            config,
            "--data.synthetic=null",
            "--data.num_workers=0",
            "--model.sampler.steps=4",
            f"--data.predict_videos={video}",
            f"--data.clap_reference={example_sounds()['gravel']}",
            f"--trainer.default_root_dir={out}",
            *extra,
        ]
    )
    wavs = sorted((out / "version_0" / "predict").rglob("*.wav"))
    assert len(wavs) == 1, wavs
    return soundfile.read(str(wavs[0]), dtype="float32")[0]


def test_predict_without_a_checkpoint_uses_the_shipped_weights_and_says_so(silent_video, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="stereosync.cli"):
        default = _predict(silent_video, tmp_path / "default")
    assert any("shipped weights" in r.getMessage() and SHIPPED in r.getMessage() for r in caplog.records)
    explicit = _predict(silent_video, tmp_path / "explicit", f"--ckpt_path={SHIPPED}")
    np.testing.assert_array_equal(default, explicit)  # the very same weights
    assert np.abs(default).max() > 1e-3


def test_untrained_weights_differ_from_the_shipped_ones(silent_video, tmp_path):
    """The comparison above can fail: exported weights of another (barely trained) model give other audio."""
    from stereosync.models.trainable_weights import trainable_state

    cli = cli_main(["--config", str(ROOT / "configs" / "tiny.yaml"), "--data.synthetic=null"], run=False)
    from safetensors.torch import save_file

    other = tmp_path / "untrained.safetensors"
    save_file(trainable_state(cli.model.state_dict(), None), str(other))
    shipped = _predict(silent_video, tmp_path / "a")
    untrained = _predict(silent_video, tmp_path / "b", f"--ckpt_path={other}")
    assert not np.allclose(shipped, untrained, atol=1e-3)


def test_a_recipe_without_shipped_weights_refuses_at_start_up_naming_the_flag(silent_video, tmp_path):
    with pytest.raises(ValueError, match=r"no shipped weights.*--ckpt_path"):
        cli_main(
            [
                "test",
                "--config",
                str(ROOT / "configs" / "tiny.yaml"),
                "--shipped_weights=null",
                f"--trainer.default_root_dir={tmp_path}",
            ]
        )
    assert not (tmp_path / "version_0").exists()  # refused before the run started
    cmd = [sys.executable, str(ROOT / "train.py"), "predict", "--config", str(ROOT / "configs" / "tiny.yaml")]
    cmd += ["--config", str(ROOT / "configs" / "ablations" / "no_depth.yaml"), f"--data.predict_videos={silent_video}"]
    cmd += [f"--trainer.default_root_dir={tmp_path}"]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("STEREOSYNC_TRACEBACK", None)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--ckpt_path" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_exported_weights_test_like_their_checkpoint(tiny_run, tmp_path):
    """``test --ckpt_path=x.safetensors`` gives the metrics of the Lightning checkpoint it was exported from."""
    import json

    _, common, ckpt = tiny_run
    exported = export_trainable(ckpt, tmp_path / "w.safetensors")
    results = {}
    for name, path in (("ckpt", ckpt), ("exported", exported)):
        out = tmp_path / name
        cli_main(["test", *common, f"--ckpt_path={path}", "--model.fad=false", f"--trainer.default_root_dir={out}"])
        results[name] = json.loads((out / "version_0" / "test" / "metrics.json").read_text())
    assert results["ckpt"]["metrics"] == results["exported"]["metrics"]
    assert results["exported"]["ckpt_path"] == str(exported)  # the weights are named in the outputs


def test_packaged_recipe_and_content_seeds(silent_video, tmp_path):
    """``--config pkg://…`` works from the package; the same file under another name in another folder, voiced
    with the same seed, gives bit-identical audio (seeds come from the content, not the path)."""
    copy = tmp_path / "elsewhere" / "deeper" / "renamed.mp4"
    copy.parent.mkdir(parents=True)
    shutil.copy(silent_video, copy)
    first = _predict(silent_video, tmp_path / "one", config="pkg://stereosync/configs/tiny.yaml")
    second = _predict(copy, tmp_path / "two")
    np.testing.assert_array_equal(first, second)
    other_seed = _predict(copy, tmp_path / "three", "--model.seed=1")
    assert not np.allclose(first, other_seed, atol=1e-3)
