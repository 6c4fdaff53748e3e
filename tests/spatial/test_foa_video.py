"""The video ``predict`` writes for first-order ambisonics: the picture as for stereo, the four ambiX channels in
their order, the track tagged by an SA3D box, and Matroska skipped (it carries no SA3D box)."""

from __future__ import annotations

import av
import numpy as np
import pytest
from media_clips import FORMATS, decode_all, write_clip

from stereosync.media import video_duration
from stereosync.output_video import check_audio_codec, write_output
from stereosync.spatial.ambix_io import write_ambix_wav
from stereosync.spatial.sa3d import FOA_AMBIX, read_sa3d

RATE = 44100
TONES = (300.0, 700.0, 1300.0, 2100.0)  # W, Y, Z, X each a tone of its own, to follow the channel order


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return {name: write_clip(FORMATS[name], folder, seconds=1.0) for name in ("mjpeg", "prores", "ffv1")}


def ambix_wav(video, path):
    """A 4-channel ambiX wav exactly as long as ``video``, channel c a sine at ``TONES[c]``."""
    duration, _ = video_duration(video)
    t = np.arange(int(round(duration * RATE))) / RATE
    return write_ambix_wav(path, 0.25 * np.sin(2 * np.pi * np.array(TONES)[:, None] * t), RATE)


def decoded_audio(path) -> np.ndarray:
    """(C, T) float samples of the first audio track (integer PCM scaled to [-1, 1))."""
    with av.open(str(path)) as c:
        audio = np.concatenate([samples(f) for f in c.decode(audio=0)], axis=1)
    return audio / 2.0 ** (8 * audio.dtype.itemsize - 1) if audio.dtype.kind == "i" else audio


def samples(frame: av.AudioFrame) -> np.ndarray:
    """(C, n) samples of a planar or interleaved frame."""
    x = frame.to_ndarray()
    return x if frame.format.is_planar else x.reshape(-1, frame.layout.nb_channels).T


def loudest_tone(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / RATE)[np.argmax(spectrum)])


# input → (output suffix, picture copied, audio codec of ``auto``)
EXPECTED = {"mjpeg": (".mp4", True, "aac"), "prores": (".mov", True, "pcm_s24le"), "ffv1": (".mp4", False, "aac")}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_foa_video_holds_the_four_channels_in_order_with_the_sa3d_tag(clips, tmp_path, name):
    video = clips[name]
    wav = ambix_wav(video, tmp_path / "foa.wav")
    out = write_output(video, wav, tmp_path / "out" / name, ambisonic=True)
    suffix, copied, codec = EXPECTED[name]
    assert (out.path.suffix, out.copied, out.audio_codec, out.ambisonic) == (suffix, copied, codec, True)
    assert read_sa3d(out.path) == [FOA_AMBIX]
    info, source = decode_all(out.path), decode_all(video)
    assert info["channels"] == 4 and info["rate"] == RATE and info["frames"] == source["frames"]
    audio = decoded_audio(out.path)
    assert [loudest_tone(channel) for channel in audio] == pytest.approx(TONES, abs=5)  # W, Y, Z, X in place
    if codec == "pcm_s24le":  # lossless: the samples are the wav's
        import soundfile

        expected, _ = soundfile.read(str(wav), dtype="float64")
        np.testing.assert_allclose(audio[:, : len(expected)].T, expected, atol=2**-22)


def test_a_stereo_file_cannot_become_an_ambisonic_track(clips, tmp_path):
    import soundfile

    wav = tmp_path / "stereo.wav"
    soundfile.write(str(wav), np.zeros((RATE, 2)), RATE)
    with pytest.raises(ValueError, match=r"stereo\.wav: a first-order ambisonic track needs a 4-channel file"):
        write_output(clips["mjpeg"], wav, tmp_path / "out", ambisonic=True)
    assert not list(tmp_path.glob("out*"))


@pytest.mark.parametrize("codec", ["aac", "pcm_s24le", "pcm_s16le", "flac"])
def test_every_audio_codec_takes_four_channels_in_mp4(codec):
    check_audio_codec(codec, ambisonic=True)  # raises when mp4 cannot hold the codec with 4 channels
