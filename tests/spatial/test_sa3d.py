"""The SA3D box rewriter: real mp4/mov files written with PyAV, tagged, then read back by our reader and by
FFmpeg's demuxer, with the media left exactly as it was."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from stereosync.spatial.sa3d import FOA_AMBIX, SpatialAudio, inject_sa3d, main, read_sa3d

RATE = 44100
# (container, audio codec) pairs the predict writer produces for first-order ambisonics.
KINDS = {"mp4-aac": ("mp4", "aac"), "mov-pcm": ("mov", "pcm_s24le"), "mov-aac": ("mov", "aac")}


def av_file(
    path: Path,
    fmt: str,
    codec: str | None,
    fast_start: bool,
    layout: str = "4.0",
    sa3d_metadata: bool = False,
    rate: int = RATE,
) -> Path:
    """One second of 64×64 MPEG-4 picture (25 fps) and, unless ``codec`` is None, random ``layout`` audio at
    ``rate`` Hz.

    ``fast_start`` puts the moov before the media data (FFmpeg's ``movflags=faststart``).
    """
    rng = np.random.default_rng(0)
    options = {"movflags": "faststart"} if fast_start else {}
    with av.open(str(path), "w", format=fmt, options=options) as dst:
        video = dst.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = dst.add_stream(codec, rate=rate, layout=layout) if codec else None
        if audio is not None and sa3d_metadata:
            audio.metadata["SA3D"] = "ambisonic 1"
        for i in range(25):
            img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            dst.mux(video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            if audio is not None:
                block = rng.uniform(-0.3, 0.3, (audio.channels, rate // 25)).astype(np.float32)
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
                frame.sample_rate, frame.pts = rate, i * (rate // 25)
                dst.mux(audio.encode(frame))
        dst.mux(video.encode(None))
        if audio is not None:
            dst.mux(audio.encode(None))
    return path


def decoded(path: Path) -> dict:
    """What a player gets: the audio samples (C, T), the video packets' hashes, the decoded frame count."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        layout = stream.layout.name
        audio = np.concatenate([samples(f) for f in c.decode(stream)], axis=1)
    with av.open(str(path)) as c:
        packets = [hashlib.sha1(bytes(p)).hexdigest() for p in c.demux(c.streams.video[0]) if p.size]
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    return {"layout": layout, "audio": audio, "packets": packets, "frames": frames}


def samples(frame: av.AudioFrame) -> np.ndarray:
    """(C, n) samples of a planar or interleaved frame."""
    x = frame.to_ndarray()
    return x if frame.format.is_planar else x.reshape(-1, frame.layout.nb_channels).T


def top_boxes(path: Path) -> list[tuple[str, int, int]]:
    """(type, start, size) of the file's top-level boxes."""
    data, at, out = path.read_bytes(), 0, []
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        size = struct.unpack(">Q", data[at + 8 : at + 16])[0] if size == 1 else size
        out.append((kind.decode("latin-1"), at, size))
        at += size
    return out


@pytest.fixture(params=[(kind, fast) for kind in KINDS for fast in (False, True)], ids=lambda p: f"{p[0]}-{p[1]}")
def tagged(request, tmp_path):
    """(file before, file after injection) for each container/codec, moov after and before the media data."""
    kind, fast_start = request.param
    fmt, codec = KINDS[kind]
    before = av_file(tmp_path / f"in.{fmt}", fmt, codec, fast_start)
    after = tmp_path / f"out.{fmt}"
    after.write_bytes(before.read_bytes())
    assert inject_sa3d(after) == 1
    return before, after


def test_the_injected_box_carries_first_order_ambix(tagged):
    before, after = tagged
    assert read_sa3d(before) == [None]
    (tag,) = read_sa3d(after)
    assert (tag.version, tag.ambisonic_type, tag.ambisonic_order) == (0, 0, 1)  # periphonic, first order
    assert (tag.channel_ordering, tag.normalization) == (0, 0)  # ACN, SN3D
    assert tag.channel_map == (0, 1, 2, 3)  # the track's channels are W, Y, Z, X in ACN order
    assert after.read_bytes().count(b"SA3D") == 1


def test_the_file_decodes_to_the_same_audio_and_picture(tagged):
    before, after = tagged
    a, b = decoded(before), decoded(after)
    assert b["audio"].shape[0] == 4 and b["audio"].shape[1] >= RATE
    np.testing.assert_array_equal(a["audio"], b["audio"])
    assert a["packets"] == b["packets"] and b["frames"] == a["frames"] == 25


def test_only_the_moov_changes_and_media_data_moves_only_when_it_follows_the_moov(tagged):
    before, after = tagged
    old, new = top_boxes(before), top_boxes(after)
    assert [k for k, _, _ in old] == [k for k, _, _ in new]
    moov_old, moov_new = next(b for b in old if b[0] == "moov"), next(b for b in new if b[0] == "moov")
    growth = moov_new[2] - moov_old[2]
    assert growth == len(FOA_AMBIX.box())
    raw_old, raw_new = before.read_bytes(), after.read_bytes()
    for (kind, start, size), (_, start_new, size_new) in zip(old, new):
        if kind == "moov":
            continue
        assert size_new == size and raw_new[start_new : start_new + size] == raw_old[start : start + size]
        assert start_new == start + (growth if start > moov_old[1] else 0)


def test_ffmpegs_demuxer_reads_the_tagged_pcm_track_as_ambisonic(tmp_path):
    """FFmpeg maps an SA3D box to its "ambisonic" channel order (a decoder like AAC's then sets its own)."""
    for fmt in ("mov", "mp4"):
        path = av_file(tmp_path / f"pcm.{fmt}", fmt, "pcm_s24le", fast_start=False)
        assert decoded(path)["layout"] == "4.0"
        inject_sa3d(path)
        assert decoded(path)["layout"] == "ambisonic 1"


def test_a_quicktime_version_2_sound_description_is_tagged(tmp_path):
    """Above 65535 Hz a mov's sound description is QuickTime version 2 (its own field layout)."""
    path = av_file(tmp_path / "hi.mov", "mov", "pcm_s24le", fast_start=True, rate=96000)
    moov = path.read_bytes()
    assert moov[moov.index(b"lpcm") + 12 : moov.index(b"lpcm") + 14] == b"\x00\x02"  # the version field
    reference = decoded(path)
    inject_sa3d(path)
    assert read_sa3d(path) == [FOA_AMBIX] and decoded(path)["layout"] == "ambisonic 1"
    np.testing.assert_array_equal(decoded(path)["audio"], reference["audio"])


def test_the_box_is_the_one_ffmpegs_mp4_muxer_writes_for_an_ambisonic_layout(tmp_path):
    path = av_file(tmp_path / "native.mp4", "mp4", "aac", fast_start=False, sa3d_metadata=True)
    data = path.read_bytes()
    if b"SA3D" not in data:
        pytest.skip("this FFmpeg's mp4 muxer writes no SA3D box from stream metadata")
    assert read_sa3d(path) == [FOA_AMBIX]
    at = data.index(b"SA3D") - 4
    assert data[at : at + struct.unpack(">I", data[at : at + 4])[0]] == FOA_AMBIX.box()


def test_injecting_again_replaces_the_box(tmp_path):
    path = av_file(tmp_path / "twice.mp4", "mp4", "aac", fast_start=True)
    reference = decoded(path)["audio"]
    inject_sa3d(path, SpatialAudio(channel_map=(0, 2, 3, 1)))
    inject_sa3d(path)
    assert read_sa3d(path) == [FOA_AMBIX] and path.read_bytes().count(b"SA3D") == 1
    np.testing.assert_array_equal(decoded(path)["audio"], reference)


def test_refusals_name_the_file(tmp_path):
    stereo = av_file(tmp_path / "stereo.mp4", "mp4", "aac", fast_start=False, layout="stereo")
    with pytest.raises(ValueError, match=r"stereo\.mp4: audio track 1 has 2 channels, the SA3D box describes 4"):
        inject_sa3d(stereo)
    silent = av_file(tmp_path / "silent.mp4", "mp4", None, fast_start=False)
    with pytest.raises(ValueError, match=r"silent\.mp4: no audio track"):
        inject_sa3d(silent)
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"not a video file at all, just some words")
    with pytest.raises(ValueError, match=r"notes\.mp4"):
        read_sa3d(text)


def test_a_short_box_is_refused():
    with pytest.raises(ValueError, match="4 channels needs 28 bytes"):
        SpatialAudio.parse(FOA_AMBIX.box()[8:-4])


def test_the_command_line_prints_each_tag(tmp_path, capsys):
    plain = av_file(tmp_path / "plain.mov", "mov", "pcm_s24le", fast_start=False)
    assert main([str(plain)]) == 1
    assert "not tagged as ambisonic" in capsys.readouterr().out
    inject_sa3d(plain)
    assert main([str(plain)]) == 0
    assert "ambisonic order 1, ACN, SN3D, channel map 0 1 2 3" in capsys.readouterr().out
