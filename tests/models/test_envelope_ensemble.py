"""``data.envelope_predictor`` as a list of files: the ControlNet reads the mean of their envelopes; each member
reads the CLAP embedding only if it was trained to, and each file is checked against the run at start-up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules.predict import EnvelopeSource, check_envelope_predictor
from datamodules.shards import ShardDataModule
from stereosync.data.synthetic import generate_scene, scene_to_samples
from stereosync.models.envelope_ensemble import EnvelopeEnsemble, load_envelope_predictor
from stereosync.models.envelope_predictor import EnvelopePredictor

SHIPPED = "pkg://stereosync/weights/tiny_envelope_predictor.safetensors"


def _conditioned(path: Path, sample_rate: int = 16000) -> str:
    """A CLAP-reading predictor file whose FiLM layer is off its zero start (as after training)."""
    torch.manual_seed(3)
    model = EnvelopePredictor(num_objects=2, clap_dim=512)
    with torch.no_grad():
        model.film.weight.normal_(0.0, 0.5)
    model.save_pretrained(path, sample_rate=sample_rate)
    return str(path)


def _batch(seed: int = 11) -> dict:
    samples = scene_to_samples(generate_scene(seed, duration=4.0, sample_rate=16000))
    batch = {k: torch.from_numpy(np.stack([s[k] for s in samples])) for k in ("motion", "boxes", "box_mask")}
    clap = torch.randn(len(samples), 512, generator=torch.Generator().manual_seed(seed))
    return dict(batch, clap=torch.nn.functional.normalize(clap, dim=-1), seconds_total=torch.full((len(samples),), 2.0))


def test_the_ensemble_is_the_mean_of_its_members_and_only_clap_members_read_clap(tmp_path):
    files = [SHIPPED, _conditioned(tmp_path / "clap.safetensors")]
    ensemble = load_envelope_predictor(files)
    assert isinstance(ensemble, EnvelopeEnsemble) and ensemble.clap_dim == 512
    b = _batch()
    x = (b["motion"], b["boxes"], b["box_mask"], 32000)
    picture, timbre = (EnvelopePredictor.from_pretrained(f) for f in files)
    mean = (picture.predict(*x) + timbre.predict(*x, b["clap"])) / 2
    torch.testing.assert_close(ensemble.predict(*x, b["clap"]), mean)
    other = torch.nn.functional.normalize(torch.randn_like(b["clap"]), dim=-1)
    moved = ensemble.predict(*x, other) - ensemble.predict(*x, b["clap"])
    torch.testing.assert_close(moved, (timbre.predict(*x, other) - timbre.predict(*x, b["clap"])) / 2)
    assert float(moved.abs().max()) > 1e-4  # the CLAP member's half follows the embedding
    assert isinstance(load_envelope_predictor([SHIPPED]), EnvelopePredictor)  # a list of one is that file
    assert load_envelope_predictor([SHIPPED, SHIPPED]).clap_dim == 0


def test_the_envelope_source_feeds_the_ensembles_envelope(tmp_path):
    files = [SHIPPED, _conditioned(tmp_path / "clap.safetensors")]
    b = _batch()
    b |= {"__key__": ["k0", "k1"], "meta": [{"source": "v.mp4"}] * 2}
    out = next(iter(EnvelopeSource([b], "predicted", files, 16000)))
    expected = EnvelopeEnsemble.from_pretrained(files).predict(b["motion"], b["boxes"], b["box_mask"], 32000, b["clap"])
    torch.testing.assert_close(out["control_envelope"], expected)
    silent = {k: v for k, v in b.items() if k != "clap"}
    with pytest.raises(ValueError, match=r"reads a CLAP embedding, but sample k0 of v.mp4 has none"):
        next(iter(EnvelopeSource([silent], "predicted", files, 16000)))


def test_each_member_file_is_checked_against_the_run(tmp_path):
    good = _conditioned(tmp_path / "clap16k.safetensors")
    wrong_rate = _conditioned(tmp_path / "clap44k.safetensors", sample_rate=44100)
    check_envelope_predictor([SHIPPED, good], 16000, 2, "a silent video")
    with pytest.raises(ValueError, match=r"clap44k.safetensors was trained on 44100-Hz audio but data.sample_rate"):
        check_envelope_predictor([SHIPPED, wrong_rate], 16000, 2, "a silent video")
    with pytest.raises(ValueError, match=r"clap16k.safetensors reads a CLAP embedding .* no CLAP \(model.clap: null\)"):
        check_envelope_predictor([SHIPPED, good], 16000, 2, "a silent video", "no CLAP (model.clap: null)")
    with pytest.raises(ValueError, match=r"data.envelope_predictor is not set"):
        check_envelope_predictor([], 16000, 2, "a silent video")


def test_the_data_module_takes_a_list_at_setup(synthetic_root, tmp_path):
    def data(predictor):
        return ShardDataModule(
            synthetic=None,
            train_shards=str(synthetic_root / "train" / "shards"),
            val_shards=str(synthetic_root / "val" / "shards"),
            sample_rate=16000,
            batch_size=2,
            num_workers=0,
            envelope_source="predicted",
            envelope_predictor=predictor,
        )

    torch.manual_seed(5)
    EnvelopePredictor(num_objects=2).save_pretrained(tmp_path / "plain.safetensors", sample_rate=16000)
    files = [SHIPPED, str(tmp_path / "plain.safetensors")]
    dm = data(files)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    expected = EnvelopeEnsemble.from_pretrained(files).predict(
        batch["motion"], batch["boxes"], batch["box_mask"], batch["audio"].shape[-1]
    )
    torch.testing.assert_close(batch["control_envelope"], expected)
    shipped = EnvelopePredictor.from_pretrained(SHIPPED).predict(
        batch["motion"], batch["boxes"], batch["box_mask"], batch["audio"].shape[-1]
    )
    assert float((batch["control_envelope"] - shipped).abs().max()) > 1e-4  # not the first member alone
    with pytest.raises(ValueError, match=r"clap44k.safetensors was trained on 44100-Hz audio"):
        data([SHIPPED, _conditioned(tmp_path / "clap44k.safetensors", 44100)]).setup("fit")
    # these scenes store no CLAP embedding: a member that reads one is refused, by name
    with pytest.raises(ValueError, match=r"clap.safetensors reads a CLAP embedding .* stores none"):
        data([SHIPPED, _conditioned(tmp_path / "clap.safetensors")]).setup("fit")
