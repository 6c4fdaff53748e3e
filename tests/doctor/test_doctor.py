"""stereosync-doctor: every check OK on a good setup; each broken file → exit 1 naming it and the fix.

Small real-format copies (a SAO folder of the same layout at a small width, a CLAP checkpoint without its text
tower, tiny transformers models) stand in where a check's logic does not depend on size; the slow test runs the
doctor on the full-size folders of ``python -m stereosync.realformat``.
"""

from __future__ import annotations

import json
import os

import pytest
from helpers import good_sample, tiny_depth_anything, tiny_rtdetr

from stereosync.doctor import main
from stereosync.realformat.safetensors_io import write_streaming

REALFORMAT_ROOT = os.environ.get("STEREOSYNC_REALFORMAT_ROOT", os.path.expanduser("~/.cache/stereosync/realformat"))


def _shards(folder, sample_rate: int, n: int = 4, emb_dim: int = 768) -> str:
    """Shards as stereosync-extract writes them for sao.yaml (depth_emb of CLIP ViT-L/14's 768 by default)."""
    import numpy as np

    from stereosync.data.shards import ShardWriter

    writer = ShardWriter(folder, max_count=2)
    for i in range(n):
        sample = good_sample(f"clip_{i:03d}", sr=sample_rate)
        sample["depth_emb"] = np.zeros((8, emb_dim), np.float32)
        writer.write(sample)
    writer.close()
    return str(folder)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Paths of a good small setup: SAO folder + its config, 44.1-kHz shards, CLAP, tiny extraction models."""
    from stereosync.realformat.clap import make_clap_checkpoint
    from stereosync.realformat.sao import make_sao_folder, small_sao_config

    root = tmp_path_factory.mktemp("doctor")
    config = small_sao_config()
    (root / "small_sao.json").write_text(json.dumps(config))
    make_sao_folder(root / "sao", config)
    for name, (model, processor) in {"depth": tiny_depth_anything(), "detector": tiny_rtdetr()}.items():
        model.save_pretrained(root / name)
        processor.save_pretrained(root / name)
    return {
        "root": root,
        "model_config": str(root / "small_sao.json"),
        "sao": root / "sao",
        "shards": _shards(root / "shards", 44100),
        "clap": str(make_clap_checkpoint(root / "630k-audioset-fusion-best.pt", text_branch=False)),
        "depth": str(root / "depth"),
        "detector": str(root / "detector"),
    }


def _args(setup, stage: str = "fit", **override) -> list[str]:
    values = {
        "model.backbone.init_args.model_config": setup["model_config"],
        "model.backbone.init_args.weights": str(setup["sao"]),
        "model.clap_checkpoint": setup["clap"],
        "data.train_shards": setup["shards"],
        "data.val_shards": setup["shards"],
        "data.test_shards": setup["shards"],
        "data.predict_models.depth_model": setup["depth"],
        "data.predict_models.detector": setup["detector"],
        "data.predict_models.image_encoder": "none",
        "data.predict_models.clap_checkpoint": setup["clap"],
        "trainer.default_root_dir": str(setup["root"] / "runs"),
    }
    values.update(override)
    return [stage, "--config", "configs/sao.yaml", *(f"--{k}={v}" for k, v in values.items())]


def _run(args, capsys, monkeypatch) -> tuple[int, str]:
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    code = main(args)
    return code, capsys.readouterr().out


def test_good_setup_is_all_ok(setup, capsys, monkeypatch):
    code, out = _run(_args(setup, "fit"), capsys, monkeypatch)
    assert code == 0, out
    lines = out.strip().splitlines()
    assert all(line.startswith(("OK", "SKIP")) for line in lines[:-1]), out
    assert "shards train: 2 shards, 4 samples at 44100 Hz" in out
    code, out = _run(_args(setup, "predict") + ["--data.predict_models.classes=[person]"], capsys, monkeypatch)
    assert code == 0, out
    assert "classes person" in out


def test_truncated_safetensors(setup, tmp_path, capsys, monkeypatch):
    import shutil

    broken = tmp_path / "sao"
    shutil.copytree(setup["sao"], broken)
    weights = broken / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size // 2)
    code, out = _run(_args(setup, "validate", **{"model.backbone.init_args.weights": str(broken)}), capsys, monkeypatch)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("FAIL sao weights"))
    assert str(weights) in line and "truncated" in line and "download model.safetensors again" in line


def test_renamed_key(setup, tmp_path, capsys, monkeypatch):
    import shutil

    from safetensors.torch import load_file

    broken = tmp_path / "sao"
    shutil.copytree(setup["sao"], broken)
    state = load_file(str(broken / "model.safetensors"))
    old = "model.model.transformer.layers.1.ff.ff.0.proj.weight"
    state["model.model.transformer.layers.1.ff.ff.0.proj.weights"] = state.pop(old)
    write_streaming(broken / "model.safetensors", state)
    code, out = _run(_args(setup, "validate", **{"model.backbone.init_args.weights": str(broken)}), capsys, monkeypatch)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("FAIL sao weights"))
    assert f"1 missing keys: {old}" in line and "1 unexpected keys: " + old + "s" in line and "fix:" in line


def test_clap_checkpoint_without_fusion(setup, tmp_path, capsys, monkeypatch):
    from stereosync.realformat.clap import make_clap_checkpoint

    plain = make_clap_checkpoint(tmp_path / "630k-audioset-best.pt", fusion=False, text_branch=False)
    code, out = _run(_args(setup, "test", **{"model.clap_checkpoint": str(plain)}), capsys, monkeypatch)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("FAIL clap"))
    assert str(plain) in line and "non-fusion" in line and "630k-audioset-fusion-best.pt" in line


def test_16_khz_shards_for_the_44_khz_recipe(setup, tmp_path, capsys, monkeypatch):
    shards = _shards(tmp_path / "shards16k", 16000, n=2)
    code, out = _run(_args(setup, "fit", **{"data.train_shards": shards}), capsys, monkeypatch)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("FAIL shards train"))
    assert "16000 Hz" in line and "44100 Hz" in line and "--sample-rate 44100" in line


def test_depth_embedding_width_other_than_the_recipes(setup, tmp_path, capsys, monkeypatch):
    shards = _shards(tmp_path / "eva", 44100, n=2, emb_dim=1024)  # EVA-CLIP ViT-g embeddings
    code, out = _run(_args(setup, "fit", **{"data.train_shards": shards}), capsys, monkeypatch)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("FAIL shards train"))
    assert "'depth_emb' has 1024 on axis -1, the recipe expects 768 (model.depth.init_args.embed_dim)" in line
    assert "--image-encoder" in line


def test_gpu_memory_check_against_the_estimate():
    from stereosync.doctor_resources import check_gpu, gpu_need_gib

    assert gpu_need_gib(1, False) == pytest.approx(8.93)
    assert check_gpu(12, False, free_gib=[79.0]).status == "OK"
    short = check_gpu(12, False, free_gib=[79.0, 20.0])
    assert short.status == "FAIL" and "GPU 1: 20.0 GiB free" in short.detail and "batch_size" in short.fix


@pytest.mark.slow
def test_full_size_folders_pass(capsys, monkeypatch):
    from stereosync.realformat import make_all

    where = make_all(REALFORMAT_ROOT)
    args = [
        "predict",
        "--config",
        "configs/sao.yaml",
        f"--model.backbone.init_args.weights={where['sao']}",
        f"--data.predict_models.depth_model={where['depth']}",
        f"--data.predict_models.detector={where['detector']}",
        f"--data.predict_models.image_encoder={where['image_encoder']}",
        f"--data.predict_models.clap_checkpoint={where['clap']}",
    ]
    code, out = _run(args, capsys, monkeypatch)
    assert code == 0, out
    assert "all 745 tensors present" in out


def test_envelope_predictor_of_another_rate(setup, tmp_path, capsys, monkeypatch):
    """The shipped 16-kHz predictor under the 44.1-kHz recipe: silent videos would be refused (SKIP, named);
    with data.envelope_source=predicted every video needs it (FAIL); one trained at 44.1 kHz with K=1 is OK."""
    from stereosync.models.envelope_predictor import EnvelopePredictor

    code, out = _run(_args(setup, "predict"), capsys, monkeypatch)
    assert code == 0 and "SKIP envelope predictor: silent videos would be refused" in out and "16000-Hz" in out
    code, out = _run(_args(setup, "predict", **{"data.envelope_source": "predicted"}), capsys, monkeypatch)
    assert code == 1 and "FAIL envelope predictor" in out and "--data.envelope_predictor" in out
    EnvelopePredictor(num_objects=1, hidden=8).save_pretrained(tmp_path / "p.safetensors", sample_rate=44100)
    override = {"data.envelope_source": "predicted", "data.envelope_predictor": str(tmp_path / "p.safetensors")}
    code, out = _run(_args(setup, "predict", **override), capsys, monkeypatch)
    assert code == 0 and "OK   envelope predictor" in out, out


def test_a_clap_reading_envelope_predictor_under_a_model_without_clap(setup, tmp_path, capsys, monkeypatch):
    """A predictor with ``clap_dim`` reads the generator's timbre reference: a model without a CLAP stream has
    none to give it (FAIL, naming the file); with the CLAP stream the same file is OK."""
    from stereosync.models.envelope_predictor import EnvelopePredictor

    path = tmp_path / "clap.safetensors"
    EnvelopePredictor(num_objects=1, hidden=8, clap_dim=512).save_pretrained(path, sample_rate=44100)
    override = {"data.envelope_source": "predicted", "data.envelope_predictor": str(path)}
    code, out = _run(_args(setup, "predict", **override), capsys, monkeypatch)
    assert code == 0 and "OK   envelope predictor" in out, out
    code, out = _run(_args(setup, "predict", **override, **{"model.clap": "null"}), capsys, monkeypatch)
    assert code == 1 and "FAIL envelope predictor" in out and f"{path} reads a CLAP embedding" in out, out
    assert "the model has no CLAP stream" in out


def test_an_ensemble_of_envelope_predictors_is_checked_file_by_file(setup, tmp_path, capsys, monkeypatch):
    """``data.envelope_predictor`` as a list: every file must fit the run; the one that does not is named."""
    from stereosync.models.envelope_predictor import EnvelopePredictor

    for name, clap_dim in (("a", 0), ("b", 512)):
        EnvelopePredictor(num_objects=1, hidden=8, clap_dim=clap_dim).save_pretrained(
            tmp_path / f"{name}.safetensors", sample_rate=44100
        )
    both = f"[{tmp_path / 'a.safetensors'}, {tmp_path / 'b.safetensors'}]"
    override = {"data.envelope_source": "predicted", "data.envelope_predictor": both}
    code, out = _run(_args(setup, "predict", **override), capsys, monkeypatch)
    assert code == 0 and "OK   envelope predictor" in out, out
    shipped = "pkg://stereosync/weights/tiny_envelope_predictor.safetensors"
    override["data.envelope_predictor"] = f"[{tmp_path / 'a.safetensors'}, {shipped}]"
    code, out = _run(_args(setup, "predict", **override), capsys, monkeypatch)
    assert code == 1 and "FAIL envelope predictor" in out and f"{shipped} was trained on 16000-Hz audio" in out, out
