"""The envelope predictor's optional CLAP input (``clap_dim``): files with and without it, its effect on the
output, training and export through the recipe, and the start-up refusals where no CLAP exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules.predict import check_envelope_predictor
from stereosync.data.synthetic import generate_scene, scene_to_samples
from stereosync.models.envelope_predictor import EnvelopePredictor, file_info

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = "pkg://stereosync/weights/tiny_envelope_predictor.safetensors"


def _inputs(seed: int = 11):
    samples = scene_to_samples(generate_scene(seed, duration=4.0, sample_rate=16000))
    return tuple(torch.from_numpy(np.stack([s[k] for s in samples])) for k in ("motion", "boxes", "box_mask"))


def _clap(n: int, seed: int) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, 512, generator=torch.Generator().manual_seed(seed)), dim=-1)


def _conditioned(seed: int = 0) -> EnvelopePredictor:
    """A CLAP-reading predictor whose FiLM layer is not at its zero start (as after training)."""
    torch.manual_seed(seed)
    model = EnvelopePredictor(num_objects=2, hidden=32, clap_dim=512)
    with torch.no_grad():
        model.film.weight.normal_(0.0, 0.5)
    return model.eval()


def test_a_conditioned_predictor_round_trips_through_its_file(tmp_path):
    model = _conditioned()
    model.save_pretrained(tmp_path / "c.safetensors", sample_rate=16000)
    config, rate = file_info(tmp_path / "c.safetensors")
    assert config["clap_dim"] == 512 and rate == 16000
    again = EnvelopePredictor.from_pretrained(tmp_path / "c.safetensors")
    assert again.clap_dim == 512
    x, clap = _inputs(), _clap(2, 1)
    torch.testing.assert_close(again(*x, clap), model(*x, clap))


def test_files_without_clap_keep_their_metadata_and_their_output(tmp_path):
    plain = EnvelopePredictor(num_objects=2, hidden=32).eval()
    plain.save_pretrained(tmp_path / "p.safetensors", sample_rate=16000)
    config, _ = file_info(tmp_path / "p.safetensors")
    assert "clap_dim" not in config and not any(k.startswith("film") for k in plain.state_dict())
    again = EnvelopePredictor.from_pretrained(tmp_path / "p.safetensors")
    assert again.clap_dim == 0 and again.film is None
    shipped = EnvelopePredictor.from_pretrained(SHIPPED)
    assert shipped.clap_dim == 0 and "clap_dim" not in file_info(SHIPPED)[0]


def test_the_clap_changes_a_conditioned_predictors_output_and_not_an_unconditioned_ones():
    x = _inputs()
    conditioned = _conditioned()
    a, b = (conditioned.predict(*x, 32000, clap=_clap(2, s)) for s in (1, 2))
    assert (a - b).abs().mean() > 1e-3 * a.abs().mean()
    shipped = EnvelopePredictor.from_pretrained(SHIPPED)
    torch.testing.assert_close(shipped.predict(*x, 32000, clap=_clap(2, 1)), shipped.predict(*x, 32000))
    with pytest.raises(ValueError, match=r"reads a 512-d CLAP embedding .*none was given"):
        conditioned.predict(*x, 32000)
    with pytest.raises(ValueError, match=r"CLAP embedding of shape \(2, 512\), got \(2, 256\)"):
        conditioned.predict(*x, 32000, clap=torch.zeros(2, 256))


def test_a_fresh_conditioned_predictor_starts_as_the_picture_only_one():
    """The FiLM layer is built last and starts at zero: the other layers draw the same initial weights, and the
    untrained predictor's output does not depend on the embedding."""
    torch.manual_seed(0)
    plain = EnvelopePredictor(num_objects=2, hidden=32).eval()
    torch.manual_seed(0)
    fresh = EnvelopePredictor(num_objects=2, hidden=32, clap_dim=512).eval()
    x = _inputs()
    torch.testing.assert_close(fresh(*x, _clap(2, 1)), plain(*x))


def _random_clap_checkpoint(path: Path) -> str:
    from stereosync.clap import ClapAudioEncoder

    torch.manual_seed(0)
    torch.save(ClapAudioEncoder(None).model.state_dict(), path)
    return str(path)


def test_the_recipe_trains_on_scenes_written_with_clap_and_exports_it(tmp_path):
    from datamodules.shards import ShardDataModule
    from stereosync.cli import cli_main
    from stereosync.data import pipeline
    from stereosync.envelope_training import main as tool

    ckpt = _random_clap_checkpoint(tmp_path / "clap.pt")
    synthetic = dict(
        root=str(tmp_path / "data"), train_scenes=2, val_scenes=1, test_scenes=0, duration=4.0, write_mp4s=False
    )
    ShardDataModule(sample_rate=16000, synthetic=synthetic | {"clap_checkpoint": ckpt}).prepare_data()
    counter = pipeline.SkipCounter(strict=True)
    tars = ({"url": str(u)} for u in sorted((tmp_path / "data" / "train" / "shards").glob("*.tar")))
    samples = [pipeline.decode(raw, counter) for raw in pipeline.tar_samples(tars, counter)]
    assert all(s["json"]["clap"] == "clap-htsat-tiny-fusion" for s in samples)
    claps = np.stack([s["clap"] for s in samples])
    np.testing.assert_allclose(np.linalg.norm(claps, axis=-1), 1.0, atol=1e-4)  # embeddings of each chunk
    assert np.abs(claps[0] - claps[-1]).max() > 1e-4

    run = tmp_path / "run"
    args = [
        "fit",
        "--config",
        str(ROOT / "configs" / "envelope_predictor.yaml"),
        *(f"--data.synthetic.{k}={v}" for k, v in synthetic.items()),
        f"--data.synthetic.clap_checkpoint={ckpt}",
        "--data.batch_size=2",
        "--data.num_workers=0",
        "--data.steps_per_epoch=2",
        "--trainer.max_steps=4",
        "--trainer.check_val_every_n_epoch=1",
        f"--trainer.default_root_dir={run}",
        "--model.init_args.clap_dim=512",
    ]
    cli_main(args)
    assert tool(["export", str(run / "version_0" / "checkpoints" / "last.ckpt"), str(tmp_path / "p.safetensors")]) == 0
    model = EnvelopePredictor.from_pretrained(tmp_path / "p.safetensors")
    assert model.clap_dim == 512 and float(model.film.weight.detach().abs().max()) > 0  # trained: off zero

    # fine-tuning that file with its convolutions and LSTM frozen, through the CLI: only the rest moves
    cli_main(
        [
            *args,
            f"--trainer.default_root_dir={run}-ft",
            f"--model.init_args.init_from={tmp_path / 'p.safetensors'}",
            "--model.init_args.freeze=[norm, conv, lstm]",
        ]
    )
    assert tool(["export", str(run) + "-ft/version_0/checkpoints/last.ckpt", str(tmp_path / "ft.safetensors")]) == 0
    a, b = model.state_dict(), EnvelopePredictor.from_pretrained(tmp_path / "ft.safetensors").state_dict()
    assert {k.split(".")[0] for k in a if not torch.equal(a[k], b[k])} == {"head", "film"}

    # the same recipe on scenes that store no CLAP is refused at start-up, naming the shard
    with pytest.raises(ValueError, match=r"shard .*train-000000\.tar.*no CLAP embedding \(json clap: 'none'\)"):
        cli_main([*args, f"--data.synthetic.root={tmp_path / 'plain'}", "--data.synthetic.clap_checkpoint=null"])


def test_a_conditioned_predictor_where_no_clap_exists_is_refused_naming_the_file(synthetic_root, tmp_path):
    from datamodules.shards import ShardDataModule

    path = tmp_path / "c.safetensors"
    _conditioned().save_pretrained(path, sample_rate=16000)
    with pytest.raises(ValueError, match=rf"{path} reads a CLAP embedding .*clap_dim=512.* but the model has no CLAP"):
        check_envelope_predictor(str(path), 16000, 2, "silent v.mp4", "the model has no CLAP stream (model.clap: null)")
    check_envelope_predictor(str(path), 16000, 2, "silent v.mp4", None)  # a CLAP exists: fits

    # test with the predicted envelope: the test shards store no embedding (json clap: none)
    shards = str(synthetic_root / "test" / "shards")
    args = dict(synthetic=None, test_shards=shards, sample_rate=16000, envelope_source="predicted", num_workers=0)
    ShardDataModule(**args, envelope_predictor=SHIPPED).setup("test")  # reads no CLAP: fits
    with pytest.raises(ValueError, match=rf"{path} reads a CLAP embedding .* stores none \(json clap: 'none'"):
        ShardDataModule(**args, envelope_predictor=str(path)).setup("test")


def test_the_other_chunk_of_the_same_materials_comes_from_another_scene(monkeypatch):
    """experiments/clap_pairs.py: the next chunk (cyclically) of another scene with the same material set, else the
    next one sharing the most materials, flagged."""
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    from clap_pairs import same_material_pairs

    chunks = [
        ("a_0", "A", ("metal",)),
        ("a_1", "A", ("metal",)),
        ("b_0", "B", ("tile",)),
        ("c_0", "C", ("metal",)),
        ("d_0", "D", ("metal", "tile")),
    ]
    pairs = same_material_pairs(chunks)
    assert pairs["a_0"] == pairs["a_1"] == ("c_0", True)  # never the own scene's other chunk
    assert pairs["c_0"] == ("a_0", True)  # cyclic
    assert pairs["b_0"] == ("d_0", False) and pairs["d_0"] == ("a_0", False)  # no other scene has the set


def test_the_swapped_copy_carries_each_partners_clap_and_nothing_else_changes(tmp_path, monkeypatch, capsys):
    """``python experiments/clap_pairs.py SRC DST`` on shards written with the random-init CLAP network: every
    chunk carries its partner's embedding, every other member is the chunk's own; shards without CLAP are refused
    naming the shard and the sample."""
    import webdataset as wds

    from datamodules.shards import ShardDataModule

    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    from clap_pairs import main

    ckpt = _random_clap_checkpoint(tmp_path / "clap.pt")
    synthetic = dict(
        root=str(tmp_path / "data"), train_scenes=3, val_scenes=0, test_scenes=0, duration=4.0, write_mp4s=False
    )
    ShardDataModule(sample_rate=16000, synthetic=synthetic | {"clap_checkpoint": ckpt}).prepare_data()
    src, dst = tmp_path / "data" / "train" / "shards", tmp_path / "swapped"
    assert main([str(src), str(dst)]) == 0
    assert "6 chunks" in capsys.readouterr().out

    def read(folder):
        tars = sorted(folder.glob("*.tar"))
        return {r["__key__"]: r for t in tars for r in wds.WebDataset(str(t), shardshuffle=False)}

    before, after = read(src), read(dst)
    pairs = json.loads((dst / "pairs.json").read_text())["pairs"]
    assert sorted(after) == sorted(before) == sorted(pairs)
    for key, (partner, _) in pairs.items():
        assert key.rsplit("_", 1)[0] != partner.rsplit("_", 1)[0]  # another scene
        assert after[key]["clap.npy"] == before[partner]["clap.npy"] != before[key]["clap.npy"]
        same = {k for k in before[key] if k not in ("clap.npy", "__url__", "__local_path__")}
        assert all(after[key][k] == before[key][k] for k in same)

    plain = tmp_path / "plain"
    ShardDataModule(sample_rate=16000, synthetic=synthetic | {"root": str(plain), "train_scenes": 2}).prepare_data()
    assert main([str(plain / "train" / "shards"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"train-000000\.tar: sample \S+_000: the chunk stores no CLAP embedding", err), err
    assert not (tmp_path / "out").exists()


def test_a_clap_reading_predictor_can_start_from_the_picture_only_file():
    """``init_from``: every layer of the shipped file is copied, the FiLM layer stays at zero, so training starts
    from the shipped output whatever the embedding; a file of another architecture is refused, naming it."""
    from stereosync.envelope_training import EnvelopePredictorModule

    shipped = EnvelopePredictor.from_pretrained(SHIPPED)
    cfg = shipped.config
    module = EnvelopePredictorModule(
        num_objects=cfg["num_objects"], hidden=cfg["hidden"], clap_dim=512, init_from=SHIPPED
    )
    x = _inputs()
    torch.testing.assert_close(module.predictor.predict(*x, 32000, clap=_clap(2, 3)), shipped.predict(*x, 32000))
    with pytest.raises(
        ValueError,
        match=r"init_from .*tiny_envelope_predictor\.safetensors: another architecture "
        r"\(hidden 64 in the file, 32 here\)",
    ):
        EnvelopePredictorModule(num_objects=2, hidden=32, init_from=SHIPPED)


def test_init_from_refuses_a_file_with_layers_the_predictor_lacks(tmp_path):
    from stereosync.envelope_training import EnvelopePredictorModule

    _conditioned().save_pretrained(tmp_path / "c.safetensors", sample_rate=16000)
    with pytest.raises(ValueError, match=r"c\.safetensors: the file has layers this predictor lacks \(film\)"):
        EnvelopePredictorModule(num_objects=2, hidden=32, init_from=str(tmp_path / "c.safetensors"))
    with pytest.raises(ValueError, match=r"not an envelope-predictor file"):
        from safetensors.torch import save_file

        save_file({"a": torch.zeros(1)}, tmp_path / "x.safetensors")
        EnvelopePredictorModule(num_objects=2, hidden=32, init_from=str(tmp_path / "x.safetensors"))


def test_frozen_layers_keep_their_weights_and_statistics_while_the_rest_trains():
    from stereosync.envelope_training import EnvelopePredictorModule

    module = EnvelopePredictorModule(
        num_objects=2, hidden=64, clap_dim=512, init_from=SHIPPED, freeze=["norm", "conv", "lstm"]
    )
    before = {k: v.clone() for k, v in module.predictor.state_dict().items()}
    opt = module.configure_optimizers()
    module.train()
    motion, boxes, mask = _inputs()
    h = module.predictor.encode(motion, boxes, mask, _clap(2, 1))
    target = torch.rand(2, h.shape[1] * 2) * 0.2
    module.predictor.loss(module.predictor.envelope_head(h), target).backward()
    opt.step()
    after = module.predictor.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"head", "film"}  # the batch norm's running statistics included
    with pytest.raises(ValueError, match=r"freeze: no predictor layer \['lsmt'\]; the layers are \[.*'lstm'"):
        EnvelopePredictorModule(num_objects=2, hidden=64, freeze=["lsmt"])
