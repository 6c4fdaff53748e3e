"""The shard schema: round trip through a real tar, named errors, no unpickling."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from helpers import good_sample

from stereosync.data.schema import SchemaError, decode_member, validate
from stereosync.data.shards import ShardWriter


def test_round_trip_through_a_real_tar(tmp_path):
    with ShardWriter(tmp_path, prefix="t", max_count=2) as w:
        for i in range(3):
            w.write(good_sample(f"clip_{i:03d}"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t-000000.tar", "t-000001.tar"]
    with tarfile.open(tmp_path / "t-000000.tar") as tar:
        names = sorted(m.name for m in tar.getmembers())
        assert names[:2] == ["clip_000.audio.npy", "clip_000.box_mask.npy"]
        members = {
            m.name.split(".", 1)[1]: tar.extractfile(m).read()
            for m in tar.getmembers()
            if m.name.startswith("clip_001")
        }
    decoded = dict(decode_member(ext, data) for ext, data in members.items())
    validate(decoded, key="clip_001")
    want = good_sample("clip_001")
    for name in ("audio", "depth", "boxes", "box_mask", "clap"):
        assert decoded[name].dtype == want[name].dtype and np.array_equal(decoded[name], want[name])


@pytest.mark.parametrize(
    "mutate, member, reason",
    [
        (lambda s: s.update(audio=s["audio"][:, :-5]), "audio", "shape"),
        (lambda s: s.update(boxes=s["boxes"].astype(np.int32)), "boxes", "dtype"),
        (lambda s: s.update(box_mask=np.ones((60, 2), bool)), "box_mask", "shape"),
        (lambda s: s["clap"].__setitem__(3, np.nan), "clap", "nonfinite"),
        (lambda s: s.pop("clap"), "clap", "missing"),
        (lambda s: s["json"].update(schema_version=99), "json", "version"),
        (lambda s: s.update(boxes=s["boxes"] * 3), "boxes", "range"),
    ],
)
def test_validate_names_shard_key_member_and_problem(mutate, member, reason):
    sample = good_sample()
    mutate(sample)
    with pytest.raises(SchemaError) as err:
        validate(sample, shard="s-000.tar", key="clip_000")
    assert err.value.reason == reason and err.value.member == member
    assert "shard s-000.tar, sample clip_000" in str(err.value) and member in str(err.value)


@pytest.mark.parametrize("ext", ["audio.pth", "x.pkl", "y.pyd", "z.pickle"])
def test_pickle_capable_members_are_refused_without_loading(ext):
    payload = b"\x80\x04cos\nsystem\n."  # would run code if unpickled
    with pytest.raises(SchemaError, match="refused without loading"):
        decode_member(ext, payload, shard="s.tar", key="k")


def test_object_arrays_in_npy_are_refused():
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SchemaError, match="npy does not load"):
        decode_member("clap.npy", buf.getvalue(), key="k")


def test_writer_refuses_invalid_samples_before_writing(tmp_path):
    bad = good_sample()
    bad["boxes"] = bad["boxes"][:10]
    with ShardWriter(tmp_path, prefix="t") as w, pytest.raises(SchemaError, match="boxes"):
        w.write(bad)
    assert not list(tmp_path.glob("*.tar"))
