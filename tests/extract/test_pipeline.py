"""End to end: synthetic mp4s -> the real pipeline with tiny models -> shards that validate; resume."""

from __future__ import annotations

import numpy as np


def test_end_to_end_shards_validate_and_resume(synthetic_videos, make_featurizer, read_shards, run, tmp_path):
    videos, scenes = synthetic_videos
    out = tmp_path / "out"
    summary = run(videos, out, make_featurizer(), samples_per_shard=4, chunks_per_batch=2)
    samples = read_shards(out)
    # 3 scenes of 6 s -> 3 whole 2-s chunks each, no tail
    assert summary["videos_ok"] == 3 and summary["videos_failed"] == 0
    assert summary["chunks_written"] == len(samples) == 9
    assert summary["tails_dropped"] == 0
    assert len(list(out.glob("*.tar"))) == 3  # 9 samples at 4 per shard
    assert not list(out.glob("*.partial"))
    for sample in samples.values():
        meta = sample["json"]
        assert meta["source"] in scenes and meta["chunk_index"] in (0, 1, 2)
        assert sample["audio"].shape == (2, 88200) and sample["envelope"].shape == (2, 88200)
        assert sample["depth"].shape == (8, 36, 64) and sample["depth_emb"].shape == (8, 16)
        assert sample["boxes"].shape == (60, 1, 4) and sample["box_mask"].shape == (60, 1)
        assert sample["clap"].shape == (512,)
        # the shard's audio is the source audio, aligned in time: AAC at its default bit rate keeps the
        # waveform correlation above ~0.93 on these scenes, while a shift of one AAC frame (1024 samples)
        # drops it to ~0 (footsteps are transients)
        a0 = int(round(meta["start"] * 44100))
        ref = scenes[meta["source"]].audio
        corr = np.corrcoef(ref[:, a0 : a0 + 88200].ravel(), sample["audio"].ravel())[0, 1]
        assert corr > 0.9, f"{meta['source']} chunk {meta['chunk_index']}: audio correlation {corr:.3f}"
        shifted = np.corrcoef(
            ref[:, a0 + 1024 : a0 + 1024 + 88200].ravel(), sample["audio"][:, : ref.shape[1] - a0 - 1024].ravel()
        )[0, 1]
        assert abs(shifted) < 0.3
    assert (out / "summary-p0000.json").is_file() and (out / "config-p0000.json").is_file()

    # a second run adds nothing
    again = run(videos, out, make_featurizer(), samples_per_shard=4)
    assert again["videos_skipped_finished"] == 3 and again["chunks_written"] == 0
    assert read_shards(out).keys() == samples.keys()


def test_chunk_envelope_equals_the_whole_track_envelope(synthetic_videos):
    """The causal RMS windows see the chunk's real past (its audio history), as on the whole track."""
    import torch

    from stereosync.envelope import rms_envelope
    from stereosync.extract.decode import DecodeConfig, DecodeReport, iter_chunks, load_audio
    from stereosync.extract.features import Featurizer

    videos, _ = synthetic_videos
    path = videos / "scene12.mp4"
    full = rms_envelope(torch.from_numpy(load_audio(path, DecodeConfig(), DecodeReport())), 44100).numpy()
    featurizer = Featurizer(tracker=None, clap=None, depth=None)
    for chunk in iter_chunks(path, DecodeConfig(), DecodeReport()):
        a0 = chunk.index * 88200
        assert np.allclose(featurizer.envelope(chunk, 44100), full[:, a0 : a0 + 88200], atol=1e-6)
