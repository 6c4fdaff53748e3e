"""Resumability and partitioning: re-runs skip finished work; a kill at any moment leaves no duplicate."""

from __future__ import annotations

import json
import shutil

from stereosync.extract.inputs import list_videos, partition, resolve_partition


def keys_by_source(samples: dict) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for s in samples.values():
        out.setdefault(s["json"]["source"], []).append(s["json"]["chunk_index"])
    return {k: sorted(v) for k, v in out.items()}


def test_kill_between_rename_and_commit_leaves_no_duplicate(
    synthetic_videos, make_featurizer, read_shards, run, tmp_path
):
    """Rebuild the state a kill leaves at its worst moments, then resume.

    A full run writes 9 chunks of 3 videos into shards of 2. Then: the last two commit lines are taken
    back (the shards were renamed but the process died before logging them: shard 3 holds chunks 0-1 of
    the third video, shard 4 its chunk 2), a torn half line is appended (killed mid-write), and a
    ``.partial`` shard is left over. The resumed run must delete the unlogged shards, ignore the torn
    line, write exactly the missing chunks, and leave each chunk exactly once.
    """
    videos, _ = synthetic_videos
    out = tmp_path / "out"
    run(videos, out, make_featurizer(cheap=True), samples_per_shard=2, chunks_per_batch=2)
    full = read_shards(out)
    assert len(full) == 9 and len(list(out.glob("*.tar"))) == 5
    log = out / "progress-p0000.jsonl"
    lines = log.read_text().splitlines()
    shard_lines = [json.loads(x) for x in lines if json.loads(x)["type"] == "shard"]
    assert [r["shard"] for r in shard_lines][-1] == "shard-p0000-000004.tar"
    # a mid-video state: keep the commit of shard 3 (chunks 0, 1 of video 3), drop that of shard 4 (its chunk 2)
    log.write_text("\n".join(lines[:-1]) + '\n{"type": "shard", "shard": "shard-p0000-0000')
    (out / "shard-p0000-000005.tar.partial").write_bytes(b"garbage")
    resumed = run(videos, out, make_featurizer(cheap=True), samples_per_shard=2, chunks_per_batch=2)
    assert resumed["videos_processed"] == 1 and resumed["chunks_written"] == 1
    assert resumed["chunks_already_committed"] == 2
    again = read_shards(out)
    assert keys_by_source(again) == keys_by_source(full) == {v: [0, 1, 2] for v in keys_by_source(full)}
    assert not list(out.glob("*.partial"))
    for key in full:  # the recomputed chunk is the same data
        assert (again[key]["boxes"] == full[key]["boxes"]).all()
        assert abs(again[key]["clap"] - full[key]["clap"]).max() < 1e-5

    # take back two commits: shards 3 and 4 are orphans, video 3 starts over; nothing is duplicated
    lines = [x for x in log.read_text().splitlines() if x.endswith("}")]  # without the torn line
    shard_idx = [i for i, x in enumerate(lines) if json.loads(x)["type"] == "shard"]
    log.write_text("\n".join(lines[: shard_idx[-2]]) + "\n")
    shutil.copy(out / "shard-p0000-000000.tar", out / "shard-p0000-000009.tar")  # a stray, never committed
    run(videos, out, make_featurizer(cheap=True), samples_per_shard=2)
    assert keys_by_source(read_shards(out)) == keys_by_source(full)


def test_partitions_are_disjoint_and_cover(tmp_path, monkeypatch):
    for i in range(7):
        (tmp_path / f"v{i}.mp4").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a video")
    videos = list_videos(tmp_path)
    assert [v.key for v in videos] == [f"v{i}.mp4" for i in range(7)]
    parts = [partition(videos, 3, i) for i in range(3)]
    assert sorted(v.key for p in parts for v in p) == [v.key for v in videos]
    assert [len(p) for p in parts] == [3, 2, 2]
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    assert resolve_partition(None, None) == (4, 2)
    assert resolve_partition(3, 1) == (3, 1)  # flags win over the environment
    monkeypatch.delenv("WORLD_SIZE")
    assert resolve_partition(None, None) == (1, 0)
    listing = tmp_path / "list.txt"
    listing.write_text("# my videos\nv3.mp4\n\nv1.mp4\nmissing.mp4\n")
    assert [v.key for v in list_videos(listing)] == ["missing.mp4", "v1.mp4", "v3.mp4"]
    assert list_videos(listing)[1].path == tmp_path / "v1.mp4"


def test_partitioned_runs_share_the_output(synthetic_videos, make_featurizer, read_shards, run, tmp_path):
    videos, scenes = synthetic_videos
    out = tmp_path / "out"
    for index in range(2):
        run(videos, out, make_featurizer(cheap=True), num_shards=2, shard_index=index, samples_per_shard=8)
    assert {p.name for p in out.glob("*.tar")} == {"shard-p0000-000000.tar", "shard-p0001-000000.tar"}
    assert keys_by_source(read_shards(out)) == {name: [0, 1, 2] for name in scenes}
    # one process with a different partitioning finds everything done
    summary = run(videos, out, make_featurizer(cheap=True), num_shards=1, shard_index=0)
    assert summary["videos_skipped_finished"] == 3 and summary["chunks_written"] == 0
