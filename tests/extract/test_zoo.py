"""Bad inputs: each is recorded in the failure manifest with its error type; the run goes on."""

from __future__ import annotations

import json


def test_bad_input_zoo(zoo, make_featurizer, read_shards, run, tmp_path):
    folder, expected = zoo
    out = tmp_path / "out"
    summary = run(folder, out, make_featurizer(cheap=True), samples_per_shard=8)
    lines = [json.loads(x) for x in (out / "failures-p0000.jsonl").read_text().splitlines()]
    by_video = {rec["video"]: rec for rec in lines}
    assert len(by_video) == len(lines), "one manifest line per bad input"
    for name, error in expected.items():
        if error is None:
            assert name not in by_video, f"{name} is valid but was recorded: {by_video.get(name)}"
        else:
            assert name in by_video, f"{name} should be recorded as {error}"
            rec = by_video[name]
            assert rec["error"] == error, rec
            assert rec["message"] and rec["path"].endswith(name)
            assert rec["fatal"] == (error != "CorruptStreamError")
    assert set(by_video) == {n for n, e in expected.items() if e}

    samples = read_shards(out)
    per_video: dict[str, int] = {}
    for sample in samples.values():
        per_video[sample["json"]["source"]] = per_video.get(sample["json"]["source"], 0) + 1
    # good and awkward-but-valid files produced their whole chunks; the corrupt one kept the clean ones
    assert per_video["good.mp4"] == 3
    for name in ("portrait.mp4", "mono_22k.mp4", "surround_48k.mp4", "large_4k.mp4"):
        assert per_video[name] == 1, name
    assert 1 <= per_video.get("corrupt_mid.mp4", 0) < 3
    assert by_video["corrupt_mid.mp4"]["chunks_written"] == per_video["corrupt_mid.mp4"]
    for name, error in expected.items():
        if error and error != "CorruptStreamError":
            assert name not in per_video
    portrait = next(s for s in samples.values() if s["json"]["source"] == "portrait.mp4")
    assert (portrait["json"]["width"], portrait["json"]["height"]) == (96, 160)
    large = next(s for s in samples.values() if s["json"]["source"] == "large_4k.mp4")
    assert (large["json"]["width"], large["json"]["height"]) == (3840, 2160)  # source size (decoded at 640)

    assert summary["videos_failed"] == sum(1 for e in expected.values() if e and e != "CorruptStreamError")
    assert summary["videos_partial"] == 1 and summary["chunks_written"] == len(samples)
    # 2.5-s valid files drop a 0.5-s tail; the summary counts them
    assert summary["tails_dropped"] >= 3 and summary["warnings"] >= 4

    # a re-run retries nothing, records nothing twice
    again = run(folder, out, make_featurizer(cheap=True), samples_per_shard=8)
    assert again["videos_processed"] == 0
    assert len((out / "failures-p0000.jsonl").read_text().splitlines()) == len(lines)
