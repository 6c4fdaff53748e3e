"""The WebDataset DataModule on real synthetic shards: shapes, DDP splitting, equal steps, bad-data accounting."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import good_sample

from datamodules.shards import ShardDataModule, ShardStream, expand_shards
from stereosync.data.schema import MEMBERS
from stereosync.data.shards import ShardWriter


def _dm(root, **kw) -> ShardDataModule:
    args = dict(
        train_shards=str(root / "train" / "shards"),
        val_shards=str(root / "val" / "shards"),
        test_shards=str(root / "test" / "shards"),
        sample_rate=16000,
        batch_size=2,
        num_workers=0,
        steps_per_epoch=3,
        shuffle_buffer=4,
    )
    args.update(kw)
    return ShardDataModule(**args)


def test_batches_have_the_schema_shapes_and_dtypes(synthetic_root):
    batch = next(iter(_dm(synthetic_root).train_dataloader()))
    assert batch["audio"].shape == (2, 2, 32000) and batch["audio"].dtype == torch.float32
    assert batch["depth"].shape[:2] == (2, 8)
    assert batch["boxes"].shape[1::2] == (60, 4) and batch["box_mask"].dtype == torch.bool
    assert batch["clap"].shape == (2, 512)
    assert torch.equal(batch["seconds_total"], torch.full((2,), 2.0))
    assert batch["audio"].abs().amax(dim=(1, 2)).allclose(torch.ones(2))  # peak-normalised
    assert set(batch) >= {"meta", "__key__", "skipped"} and batch["skipped"] == {}
    for name in ("audio", "envelope", "depth", "boxes", "box_mask", "clap"):
        assert batch[name].dim() == len(MEMBERS[name].shape) + 1


def test_training_epoch_length_is_fixed_with_more_workers_than_shards(synthetic_root):
    dm = _dm(synthetic_root, num_workers=4, steps_per_epoch=6)
    assert len(expand_shards(dm.shards["val"])) < 4
    assert sum(1 for _ in dm.train_dataloader()) == 8  # ceil(6 / 4) per worker × 4 workers
    assert sum(b["audio"].shape[0] for b in dm.val_dataloader()) == 6  # 2 scenes × 3 chunks, each once


def _keys(stream) -> list[str]:
    return [k for b in stream for k in b["__key__"]]


def test_two_ranks_see_disjoint_validation_and_equal_training_steps(synthetic_root, monkeypatch):
    per_rank = {}
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        dm = _dm(synthetic_root, steps_per_epoch=5)
        per_rank[rank] = (
            _keys(dm.val_dataloader()),
            sum(1 for _ in dm.train_dataloader()),
            _keys(dm.train_dataloader()),
        )
    (val0, steps0, train0), (val1, steps1, train1) = per_rank[0], per_rank[1]
    assert val0 and val1 and not set(val0) & set(val1)
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    all_val = _keys(_dm(synthetic_root).val_dataloader())
    assert sorted(val0 + val1) == sorted(all_val)
    assert steps0 == steps1 == 5
    assert train0 != train1  # ranks draw different samples


def test_epochs_are_reproducible_and_differ_from_each_other(synthetic_root):
    dm = _dm(synthetic_root)
    first = [b["audio"] for b in dm.train_dataloader()]
    again = [b["audio"] for b in dm.train_dataloader()]
    dm.set_epoch(1)
    second = [b["audio"] for b in dm.train_dataloader()]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, second))


def _corrupt_shards(folder: Path) -> Path:
    """Shards with a wrong shape, a NaN, a missing member, a pickle member and a truncated tar, plus good samples."""
    folder.mkdir()
    with ShardWriter(folder, prefix="bad", max_count=100) as w:
        for i in range(4):
            w.write(good_sample(f"good_{i}"))
    import webdataset as wds

    from stereosync.data.schema import encode_sample

    with wds.TarWriter(str(folder / "bad-000001.tar")) as tar:
        s = good_sample("wrong_shape")
        s["depth"] = np.zeros((3, 9, 16), np.float32)
        tar.write(
            {
                **encode_sample({k: v for k, v in s.items() if k != "depth"}),
                "depth.npy": encode_sample({"__key__": "x", "depth": s["depth"]})["depth.npy"],
            }
        )
        s = good_sample("nan_clap")
        s["clap"] = s["clap"].copy()
        s["clap"][0] = np.inf
        tar.write(
            encode_sample({k: v for k, v in s.items() if k != "clap"})
            | {"clap.npy": encode_sample({"__key__": "x", "clap": s["clap"]})["clap.npy"]}
        )
        tar.write(encode_sample({k: v for k, v in good_sample("no_clap").items() if k != "clap"}))
        tar.write(encode_sample(good_sample("pickled")) | {"extra.pth": b"\x80\x04N."})
    data = (folder / "bad-000000.tar").read_bytes()
    shutil.copy(folder / "bad-000000.tar", folder / "bad-000002.tar")
    (folder / "bad-000002.tar").write_bytes(data[: len(data) // 2 + 100])
    return folder


def test_lenient_mode_skips_and_counts_every_bad_sample(tmp_path):
    folder = _corrupt_shards(tmp_path / "bad")
    stream = ShardStream(
        expand_shards(str(folder)),
        batch_size=1,
        chunk_seconds=2.0,
        train=False,
        seed=0,
        strict=False,
        steps_per_epoch=None,
        shuffle_buffer=1,
        peak_normalise=True,
        polarity_flip=False,
    )
    batches = list(stream)
    keys = [k for b in batches for k in b["__key__"]]
    skipped = {}
    for b in batches:
        for reason, n in b["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + n
    assert sorted(set(keys)) == [f"good_{i}" for i in range(4)]
    assert skipped.get("shape") == 1 and skipped.get("nonfinite") == 1 and skipped.get("missing") == 1
    assert skipped.get("forbidden") == 1 and skipped.get("tar", 0) >= 1


def test_strict_mode_names_shard_key_and_problem(tmp_path):
    folder = _corrupt_shards(tmp_path / "bad")
    stream = ShardStream(
        [str(folder / "bad-000001.tar")],
        batch_size=1,
        chunk_seconds=2.0,
        train=False,
        seed=0,
        strict=True,
        steps_per_epoch=None,
        shuffle_buffer=1,
        peak_normalise=True,
        polarity_flip=False,
    )
    with pytest.raises(Exception, match=r"bad-000001.tar, sample wrong_shape, member 'depth'.*shape"):
        list(stream)


def test_random_crop_keeps_streams_aligned(tmp_path):
    """A 1-s crop of a 2-s chunk starts on the 0.5-s grid, the same instant for audio, depth and boxes."""
    sample = good_sample("ramp")
    t = np.arange(32000) / 16000
    sample["audio"] = np.stack([t, t]).astype(np.float32) / 2
    sample["depth"] = np.repeat((np.arange(8) / 4)[:, None, None], 9 * 16).reshape(8, 9, 16).astype(np.float32) / 2
    sample["boxes"] = np.repeat((np.arange(60) / 30)[:, None, None], 4, axis=2).astype(np.float32) / 2
    with ShardWriter(tmp_path, prefix="c") as w:
        w.write(sample)
    stream = ShardStream(expand_shards(str(tmp_path)), 1, 1.0, True, 3, True, 8, 1, False, False)
    starts = set()
    for b in stream:
        a0, d0, b0 = (
            float(b["audio"][0, 0, 0]) * 2,
            float(b["depth"][0, 0, 0, 0]) * 2,
            float(b["boxes"][0, 0, 0, 0]) * 2,
        )
        assert a0 == pytest.approx(d0, abs=1e-4) == pytest.approx(b0, abs=1e-4)
        assert b["audio"].shape[-1] == 16000 and b["depth"].shape[1] == 4 and b["boxes"].shape[1] == 30
        starts.add(round(a0, 3))
    assert starts <= {0.0, 0.5, 1.0} and len(starts) > 1
