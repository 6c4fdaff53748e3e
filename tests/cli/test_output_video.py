"""The video file ``predict`` delivers for each codec and container: which container, copied or re-encoded,
and that it decodes whole with a stereo 44.1 kHz track as long as the picture."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from media_clips import (
    FORMATS,
    ClipFormat,
    clip_422_10bit,
    decode_all,
    odd_sized_clip,
    rotated_clip,
    variable_rate_clip,
    write_clip,
)

from stereosync.media import video_duration
from stereosync.output_video import check_audio_codec, reencode_output, write_output

# (output suffix, picture stream-copied): mp4 when it holds the codec, else the input's mov/mkv family,
# else H.264 in mp4.
EXPECTED = {
    "prores": (".mov", True),
    "dnxhd": (".mov", True),
    "msmpeg4": (".mp4", False),
    "mjpeg": (".mp4", True),
    "ffv1": (".mkv", True),
    "vp9": (".mp4", True),
    "h264_10bit": (".mp4", True),
    "h264_422_10bit": (".mp4", True),
    "cinepak": (".mp4", False),
}
AAC_PRIMING = 2048 / 44100  # what an AAC decoder may add at the start


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    made = {name: write_clip(fmt, folder) for name, fmt in FORMATS.items()}
    made["vfr"], made["odd"] = variable_rate_clip(folder), odd_sized_clip(folder)
    made["rotated"], made["422_10bit"] = rotated_clip(folder), clip_422_10bit(folder)
    return made


def noise_wav(video: Path, path: Path) -> Path:
    """A 44.1 kHz stereo wav exactly as long as ``video``."""
    duration, _ = video_duration(video)
    audio = np.random.default_rng(0).uniform(-0.3, 0.3, (int(round(duration * 44100)), 2))
    soundfile.write(str(path), audio, 44100, subtype="PCM_24")
    return path


def check_output(video: Path, out: Path) -> dict:
    """The output decodes whole, its audio is stereo 44.1 kHz and it lasts as long as the input."""
    duration, fps = video_duration(video)
    info = decode_all(out)
    with av.open(str(video)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert info["frames"] == frames
    assert info["channels"] == 2 and info["rate"] == 44100
    assert abs(video_duration(out)[0] - duration) <= 1 / fps
    assert abs(info["audio_seconds"] - duration) <= 1 / fps + AAC_PRIMING
    assert not list(out.parent.glob(".*"))  # no temporary file left behind
    return info


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_codec_gets_its_container_and_a_whole_stereo_output(clips, tmp_path, name):
    video = clips[name]
    result = write_output(video, noise_wav(video, tmp_path / "a.wav"), tmp_path / name)
    suffix, copied = EXPECTED[name]
    assert (result.path.suffix, result.copied) == (suffix, copied)
    assert result.path == tmp_path / f"{name}{suffix}" and result.path.is_file()
    info = check_output(video, result.path)
    assert info["audio_codec"] == ("pcm_s24le" if suffix == ".mov" else "aac")
    with av.open(str(video)) as c:
        codec = c.streams.video[0].codec_context.name
    assert info["video_codec"] == (codec if copied else "h264")


@pytest.mark.parametrize("name", ["vfr", "rotated", "h264_422_10bit"])
def test_a_re_encoded_picture_keeps_frame_times_and_rotation(clips, tmp_path, name):
    video = clips[name]
    result = reencode_output(video, noise_wav(video, tmp_path / "a.wav"), tmp_path / name)
    assert not result.copied and result.video_codec == "libx264"
    check_output(video, result.path)
    with av.open(str(video)) as a, av.open(str(result.path)) as b:
        src, out = list(a.decode(video=0)), list(b.decode(video=0))
    np.testing.assert_allclose([f.time for f in out], [f.time for f in src], atol=1e-3)
    assert out[0].rotation == src[0].rotation
    assert out[0].format.name == "yuv420p"
    if name == "rotated":
        assert src[0].rotation == -90


def test_a_stream_copy_keeps_the_rotation_and_a_variable_frame_rate(clips, tmp_path):
    for name in ("rotated", "vfr"):
        result = write_output(clips[name], noise_wav(clips[name], tmp_path / "a.wav"), tmp_path / name)
        assert result.copied and result.path.suffix == ".mp4"
        with av.open(str(clips[name])) as a, av.open(str(result.path)) as b:
            src, out = list(a.decode(video=0)), list(b.decode(video=0))
        assert [f.time for f in out] == [f.time for f in src] and out[0].rotation == src[0].rotation


@pytest.mark.parametrize("name", ["odd", "422_10bit"])
def test_odd_sizes_and_4_2_2_10_bit_pictures_become_even_sized_8_bit_4_2_0(clips, tmp_path, name):
    video = clips[name]
    result = write_output(video, noise_wav(video, tmp_path / "a.wav"), tmp_path / name)
    assert (result.path.suffix, result.copied) == (".mp4", False)
    info = check_output(video, result.path)
    assert info["size"] == (160, 96)  # 161×97 is scaled to the even size below
    with av.open(str(result.path)) as c:
        assert next(c.decode(video=0)).format.name == "yuv420p"


@pytest.mark.parametrize(
    "codec, name, expected",
    [
        ("pcm_s16le", "ffv1", (".mkv", "pcm_s16le")),
        ("flac", "vp9", (".mp4", "flac")),
        ("aac", "prores", (".mov", "aac")),
        ("flac", "prores", (".mp4", "flac")),  # mov holds no FLAC: the picture is re-encoded into mp4
    ],
)
def test_an_explicit_audio_codec_goes_where_a_container_holds_it(clips, tmp_path, codec, name, expected):
    video = clips[name]
    result = write_output(video, noise_wav(video, tmp_path / "a.wav"), tmp_path / name, codec)
    info = check_output(video, result.path)
    assert (result.path.suffix, info["audio_codec"]) == expected


def test_unknown_audio_codecs_are_refused_naming_the_flag():
    for codec in ("auto", "aac", "pcm_s24le", "pcm_s16le", "flac"):
        check_audio_codec(codec)
    with pytest.raises(ValueError, match=r"data\.output_audio_codec='mp3' is not one of auto, aac"):
        check_audio_codec("mp3")


def test_the_datamodule_refuses_an_unknown_audio_codec_when_it_is_built():
    from datamodules.shards import ShardDataModule

    assert ShardDataModule(output_audio_codec="pcm_s24le").hparams.output_audio_codec == "pcm_s24le"
    with pytest.raises(ValueError, match=r"data\.output_audio_codec='wav'"):
        ShardDataModule(output_audio_codec="wav")


def test_a_taken_output_path_fails_the_mux_and_leaves_nothing_half_written(clips, tmp_path):
    video = clips["h264_10bit"]
    (tmp_path / "out" / "h264_10bit.mp4").mkdir(parents=True)
    with pytest.raises(OSError):
        write_output(video, noise_wav(video, tmp_path / "a.wav"), tmp_path / "out" / "h264_10bit")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["h264_10bit.mp4"]


def test_the_audio_starts_with_the_first_frame_when_the_video_does_not_start_at_zero(tmp_path):
    video = write_clip(ClipFormat("mpeg2", ".ts", "mpeg2video", "yuv420p"), tmp_path)
    with av.open(str(video)) as c:
        start = float(c.streams.video[0].start_time * c.streams.video[0].time_base)
    assert start > 0  # MPEG-TS delays the first frame
    result = write_output(video, noise_wav(video, tmp_path / "a.wav"), tmp_path / "out", "pcm_s16le")  # no priming
    assert (result.path.suffix, result.copied) == (".mp4", True)
    with av.open(str(result.path)) as c:
        assert abs(float(next(c.decode(audio=0)).time) - start) < 1e-3
