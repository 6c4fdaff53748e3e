"""Decoding: frames picked by timestamp at 4 and 30 fps from any source rate; audio to 44.1 kHz stereo."""

from __future__ import annotations

import numpy as np
import pytest

from stereosync.extract.decode import DecodeConfig, DecodeReport, _place, iter_chunks, load_audio
from stereosync.extract.timeline import GridSampler, nearest_frame_indices


def decode(path, **cfg):
    report = DecodeReport()
    chunks = list(iter_chunks(path, DecodeConfig(**cfg), report))
    return chunks, report


def source_index(frames: np.ndarray) -> np.ndarray:
    """Which source frame (mod 36) each decoded frame is: the writer paints frame i with grey 7 (i mod 36)."""
    return np.round(frames[:, 8:-8, 8:-8].reshape(len(frames), -1).mean(axis=1) / 7).astype(int) % 36


def expected_indices(times: np.ndarray, grid_times: np.ndarray) -> np.ndarray:
    """Independent reference: per grid time, the source frame with the nearest timestamp (ties, 1 µs: later)."""
    d = np.abs(times[None, :] - grid_times[:, None])
    best = d.min(axis=1, keepdims=True)
    return np.array([np.flatnonzero(row <= b + 1e-6).max() for row, b in zip(d, best)])


@pytest.mark.parametrize("fps", [25.0, 60.0, 30000 / 1001])
def test_constant_rate_sources_resample_to_30_and_4_fps(media_writer, tmp_path, fps):
    path = media_writer(tmp_path / f"v{fps:.0f}.mp4", seconds=4.5, fps=fps)
    chunks, report = decode(path)
    assert len(chunks) == 2 and report.tail_seconds == pytest.approx(0.5, abs=0.05)
    src_times = np.arange(int(round(4.5 * fps))) / fps
    for c in chunks:
        assert c.box_frames.shape == (60, 96, 160, 3) and c.depth_frames.shape == (8, 96, 160, 3)
        assert np.allclose(c.box_times, c.start + np.arange(60) / 30)
        assert np.array_equal(source_index(c.box_frames), expected_indices(src_times, c.box_times) % 36)
        want4 = expected_indices(src_times, c.start + np.arange(8) / 4) % 36
        assert np.array_equal(source_index(c.depth_frames), want4)


def test_variable_frame_rate_source(media_writer, tmp_path):
    rng = np.random.default_rng(3)
    times = np.cumsum(np.r_[0.0, rng.choice([1 / 60, 1 / 24, 1 / 30, 0.1, 0.2], size=200)])
    times = np.round(times[times < 4.2], 3)  # the writer's time base is 1 ms
    path = media_writer(tmp_path / "vfr.mp4", seconds=4.3, frame_times=times)
    chunks, report = decode(path)
    assert len(chunks) == 2
    for c in chunks:
        assert np.array_equal(source_index(c.box_frames), expected_indices(times, c.box_times) % 36)
        want4 = expected_indices(times, c.start + np.arange(8) / 4) % 36
        assert np.array_equal(source_index(c.depth_frames), want4)


@pytest.mark.parametrize("layout,rate", [("mono", 22050), ("stereo", 48000), ("5.1", 44100), ("stereo", 44100)])
def test_audio_to_44k_stereo(media_writer, tmp_path, layout, rate):
    path = media_writer(tmp_path / f"{layout}_{rate}.mp4", seconds=2.5, sample_rate=rate, layout=layout)
    report = DecodeReport()
    audio = load_audio(path, DecodeConfig(), report)
    assert audio.dtype == np.float32 and audio.shape[0] == 2
    assert abs(audio.shape[1] - 2.5 * 44100) < 2048 + 44100 * 0.05  # AAC pads its last frame
    mid = audio[:, 4410 : 4410 + 44100]  # 1 s away from the codec's start-up
    spectrum = np.abs(np.fft.rfft(mid[0]))
    assert np.argmax(spectrum) == pytest.approx(440, abs=2)  # 1-s window: bin = Hz; the tone survives
    left, right = np.sqrt((mid**2).mean(axis=1))
    if layout == "mono":
        assert np.allclose(mid[0], mid[1])  # duplicated
        assert left == pytest.approx(0.1 / np.sqrt(2), rel=0.1)  # at the source level, not attenuated
        assert any("mono" in w for w in report.warnings)
    elif layout == "stereo":
        assert right / left == pytest.approx(2.0, rel=0.1)  # the writer gives channel c amplitude 0.1 (c + 1)
    else:
        assert left > 0 and right > 0 and any("downmixed" in w for w in report.warnings)
    assert any("resampled" in w for w in report.warnings) == (rate != 44100)


def test_chunks_cut_aligned_audio(media_writer, tmp_path):
    path = media_writer(tmp_path / "a.mp4", seconds=6.4)
    chunks, report = decode(path, chunk_seconds=3.0)
    assert [c.index for c in chunks] == [0, 1] and [c.start for c in chunks] == [0.0, 3.0]
    assert all(c.audio.shape == (2, 3 * 44100) for c in chunks)
    assert all(c.box_frames.shape[0] == 90 and c.depth_frames.shape[0] == 12 for c in chunks)
    assert chunks[0].history.shape == (2, 0) and chunks[1].history.shape == (2, 22050)
    assert report.tail_seconds == pytest.approx(0.4, abs=0.05)


def test_grid_sampler_matches_reference():
    rng = np.random.default_rng(0)
    for _ in range(20):
        times = np.cumsum(rng.uniform(0.005, 0.2, size=100)) + rng.uniform(0, 0.1)
        end = times[-1] + 0.03
        for fps in (4.0, 30.0):
            sampler = GridSampler(fps)
            got = [i for t, i in zip(times, range(len(times))) for _, i in sampler.push(t, i)]
            got += [i for _, i in sampler.finish(end)]
            grid = np.arange(len(got)) / fps
            assert len(got) == int(np.ceil(end * fps - 1e-9))
            assert got == list(nearest_frame_indices(times, fps, end))
            assert got == list(expected_indices(times, grid))


def test_audio_gap_is_silence_at_the_right_place():
    report = DecodeReport()
    pieces: list = []
    block = np.ones((2, 100), np.float32)
    cursor = None
    for k in (0, 1, 3):  # the packet of block 2 was lost
        cursor = _place(pieces, block * (k + 1), k * 100 / 1000, 0.0, 1000, cursor, report)
    audio = np.concatenate(pieces, axis=1)
    assert audio.shape == (2, 400)
    assert np.all(audio[:, 200:300] == 0) and np.all(audio[:, 300:] == 4)
    assert report.bad_times == [0.2]


# ---------------------------------------------------------------- generation layout: overlap, tail, silence
def _silent_mp4(path, seconds: float, fps: int = 30):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(int(seconds * fps)):
            img = np.full((48, 64, 3), (i * 3) % 255, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def test_overlapping_chunks_with_a_padded_tail_cover_the_whole_video(tmp_path):
    from stereosync.data.synthetic import generate_scene, write_mp4
    from stereosync.extract.decode import DecodeConfig, DecodeReport, iter_chunks

    mp4 = write_mp4(generate_scene(seed=3, duration=5.2, sample_rate=16000), tmp_path / "clip.mp4")
    cfg = DecodeConfig(sample_rate=16000, hop_seconds=1.5, pad_tail=True)
    report = DecodeReport()
    chunks = list(iter_chunks(mp4, cfg, report))
    assert [c.start for c in chunks] == [0.0, 1.5, 3.0, 4.5]
    assert all(c.box_frames.shape[0] == 60 and c.depth_frames.shape[0] == 8 for c in chunks)
    assert chunks[0].previous_box_frame is None
    np.testing.assert_array_equal(chunks[1].previous_box_frame, chunks[0].box_frames[44])  # the frame at 1.467 s
    last = chunks[-1]
    assert last.valid_seconds == pytest.approx(0.7, abs=0.04) and last.audio.shape == (2, 32000)
    assert not last.audio[:, 12000:].any()  # silence after the end of the video
    np.testing.assert_array_equal(last.box_frames[-1], last.box_frames[21])  # the last frame, held
    assert report.tail_seconds == 0.0


def test_a_silent_video_decodes_with_allow_silent_and_fails_without(tmp_path):
    from stereosync.extract import errors
    from stereosync.extract.decode import DecodeConfig, DecodeReport, has_audio_stream, iter_chunks

    mp4 = _silent_mp4(tmp_path / "silent.mp4", 3.0)
    assert not has_audio_stream(mp4)
    chunks = list(iter_chunks(mp4, DecodeConfig(allow_silent=True, pad_tail=True), DecodeReport()))
    assert [c.start for c in chunks] == [0.0, 2.0] and all(c.audio is None and c.history is None for c in chunks)
    with pytest.raises(errors.NoAudioStreamError):
        list(iter_chunks(mp4, DecodeConfig(), DecodeReport()))
    with pytest.raises(ValueError, match="whole number of frames"):
        DecodeConfig(hop_seconds=0.3).hop()
