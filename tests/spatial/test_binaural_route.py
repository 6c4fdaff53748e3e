"""The end-to-end binaural route: binaural training targets, a model that generates binaural, scored and written
as it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml
from helpers import silent_mp4

from stereosync.cli import cli_main
from stereosync.data import pipeline
from stereosync.data.synthetic import generate_scene, scene_to_samples

ROOT = Path(__file__).resolve().parents[2]
SR = 16000


@pytest.fixture(scope="module")
def sample():
    scene = generate_scene(seed=9, duration=4.0, sample_rate=SR)  # two characters
    return scene_to_samples(scene, chunk_seconds=2.0, key_prefix="s")[0]


def test_the_binaural_target_replaces_the_audio_and_the_envelope_stays_the_stereos(sample):
    stereo = pipeline.augment(sample, 2.0, None, True, False)
    binaural = pipeline.augment(sample, 2.0, None, True, False, target="binaural")
    assert np.abs(binaural["audio"]).max() <= 1.0 + 1e-6
    # the same recording's ears, up to the limiting gain: proportional to the normalised binaural member
    ratio = np.abs(binaural["audio"]).max() / np.abs(stereo["binaural"]).max()
    np.testing.assert_allclose(binaural["audio"], stereo["binaural"] * ratio, rtol=1e-5, atol=1e-6)
    assert not np.allclose(binaural["audio"], stereo["audio"], atol=1e-2)
    np.testing.assert_array_equal(binaural["envelope"], stereo["envelope"])
    np.testing.assert_array_equal(binaural["clap"], stereo["clap"])


def test_a_target_the_sample_lacks_or_an_unknown_target_is_a_clear_error(sample):
    from datamodules.shards import ShardDataModule

    old = {k: v for k, v in sample.items() if k != "binaural"}
    with pytest.raises(ValueError, match="no 'binaural' member, which data.target=binaural"):
        pipeline.augment(old, 2.0, None, True, False, target="binaural")
    with pytest.raises(ValueError, match="data.target='mono' is not one of stereo, binaural"):
        ShardDataModule(target="mono")


def test_the_binaural_configs_stack_on_the_tiny_recipe_and_name_shipped_weights():
    from stereosync.models.backbone import resolve_weights

    e2e = yaml.safe_load((ROOT / "configs" / "tiny_binaural.yaml").read_text())
    pre = yaml.safe_load((ROOT / "configs" / "tiny_binaural_pretrain.yaml").read_text())
    for cfg in (e2e, pre):
        assert cfg["model"]["backbone"]["init_args"]["model_config"] == "tiny_pb"
        assert cfg["data"]["target"] == "binaural"
    assert resolve_weights(e2e["model"]["backbone"]["init_args"]["weights"]).stat().st_size < 10e6
    assert pre["model"]["backbone"]["init_args"]["frozen"] is False


@pytest.fixture(scope="module")
def binaural_run(synthetic_root, tmp_path_factory):
    """A 4-step fit of the end-to-end recipe through the CLI: (common args, checkpoint, run folder)."""
    run = tmp_path_factory.mktemp("binaural_run")
    common = [
        "--config", str(ROOT / "configs" / "tiny.yaml"),
        "--config", str(ROOT / "configs" / "tiny_binaural.yaml"),
        f"--trainer.default_root_dir={run}",
        "--model.sampler.steps=4",
        "--model.fad=false",
        "--data.synthetic=null",
        f"--data.train_shards={synthetic_root / 'train' / 'shards'}",
        f"--data.val_shards={synthetic_root / 'val' / 'shards'}",
        f"--data.test_shards={synthetic_root / 'test' / 'shards'}",
        "--data.batch_size=2",
        "--data.steps_per_epoch=2",
        "--data.num_workers=0",
    ]  # fmt: skip
    cli_main(["fit", *common, "--trainer.max_steps=4"])
    return common, run / "version_0" / "checkpoints" / "last.ckpt", run


def test_the_test_stage_scores_the_generated_binaural_itself(binaural_run):
    common, ckpt, _ = binaural_run
    cli = cli_main(common, run=False)
    assert cli.model.output_format == "binaural"
    results = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=str(ckpt))[0]
    assert 0.0 <= results["test/binaural_spatial_av_align"] <= 1.0
    assert "test/foa_doa_error" not in results  # no FOA from a binaural model
    # the scored binaural is the generated audio: spatial_formats hands it over untouched
    batch = next(iter(cli.datamodule.test_dataloader()))
    generated = cli.model.generate(batch)
    assert cli.model.spatial_formats(generated, batch)["binaural"] is generated


def test_predict_writes_the_generated_binaural_and_refuses_other_formats(binaural_run, tmp_path):
    from stereosync.demo.examples import example_sounds

    common, ckpt, _ = binaural_run
    video = silent_mp4(generate_scene(seed=3131, duration=2.5, sample_rate=SR), tmp_path / "in" / "walk.mp4")
    args = ["predict", *common, f"--ckpt_path={ckpt}", "--data.predict_models={preset: tiny}"]
    args += [f"--data.predict_videos={video}", f"--data.clap_reference={example_sounds()['gravel']}"]
    cli_main([*args, f"--trainer.default_root_dir={tmp_path / 'out'}"])  # the config's output_format: binaural
    ears, rate = soundfile.read(str(tmp_path / "out" / "version_0" / "predict" / "walk.wav"), dtype="float32")
    assert rate == 44100 and ears.shape[1] == 2 and np.abs(ears).max() > 0
    with pytest.raises(ValueError, match="data.output_format=stereo but the model generates binaural"):
        cli_main([*args, "--data.output_format=stereo", f"--trainer.default_root_dir={tmp_path / 'stereo'}"])
