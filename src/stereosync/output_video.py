"""The video file ``predict`` delivers: which container and codecs, stream copy or re-encoding.

The rule, per input video:

1. the picture is stream-copied into ``.mp4`` when mp4 can hold its codec;
2. else into the input's own container family (``.mov`` for ProRes/DNxHD — the post-production norm —,
   ``.mkv`` for Matroska/WebM) when that can hold it;
3. else the picture is re-encoded to H.264 (libx264, 8-bit yuv420p, even size) in ``.mp4``, keeping every
   frame's timestamp (variable frame rates keep their timing) and the rotation.

"Can hold it" is decided by writing the file: PyAV raises when a muxer refuses a codec at header or packet
time. Every attempt writes a temporary file next to the target, renamed onto it only when complete, so a
failed attempt never leaves a half-written output.

First-order ambisonics (``ambisonic=True``) is a 4-channel track tagged with an ``SA3D`` box
(:mod:`stereosync.spatial.sa3d`), which only mp4 and mov carry: rule 2 then skips Matroska.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from stereosync import media
from stereosync.reencode import H264Encode, write_rotation
from stereosync.spatial.sa3d import inject_sa3d

log = logging.getLogger(__name__)

FLAG = "data.output_audio_codec"
AUDIO_CODECS = ("auto", "aac", "pcm_s24le", "pcm_s16le", "flac")
# Container families kept when mp4 cannot hold the picture: post-production masters stay in QuickTime,
# Matroska-family files (WebM too: it allows no PCM/AAC audio) go to Matroska.
FAMILY = {".mov": ".mov", ".qt": ".mov", ".mkv": ".mkv", ".webm": ".mkv"}
FORMAT = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
# The layout of an ambisonic track: the plain 4-channel layout that AAC, PCM and FLAC all accept (they refuse
# "ambisonic 1", AAC refuses an unordered "4 channels"); the SA3D box says what the channels carry.
AMBISONIC_LAYOUT = "4.0"
TAGGED = (".mp4", ".mov")  # the containers an SA3D box goes into
# What a muxer refusing a codec raises (FFmpeg errors, or PyAV's ValueError for a codec the format has no tag for).
REFUSED = (av.FFmpegError, ValueError)


@dataclass(frozen=True)
class OutputVideo:
    """A written output.

    Attributes:
        path: the file (``.mp4``, ``.mov`` or ``.mkv``).
        video_codec: codec of its picture.
        audio_codec: codec of its audio track.
        copied: True when the picture was stream-copied, False when re-encoded to H.264.
        ambisonic: True when the track is first-order ambiX tagged with an SA3D box, False for stereo.
    """

    path: Path
    video_codec: str
    audio_codec: str
    copied: bool
    ambisonic: bool = False


def audio_codec_for(suffix: str, requested: str = "auto") -> str:
    """The audio codec written into a ``suffix`` container: ``auto`` is 24-bit PCM in mov, AAC elsewhere."""
    if requested != "auto":
        return requested
    return "pcm_s24le" if suffix == ".mov" else "aac"


def check_audio_codec(requested: str, ambisonic: bool = False) -> None:
    """Refuse, at start-up, an audio codec name that is unknown or that mp4 cannot hold.

    mp4 is the container every video can end up in (re-encoded), so an explicit codec must fit it; the
    check writes one second of silence (stereo, or 4 channels when ``ambisonic``) into a temporary mp4.

    Raises:
        ValueError: naming the flag, the value and the accepted ones.
    """
    if requested not in AUDIO_CODECS:
        raise ValueError(f"{FLAG}={requested!r} is not one of {', '.join(AUDIO_CODECS)}")
    if requested == "auto":
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "check.mp4"
        try:
            with av.open(str(path), "w", format="mp4") as dst:
                layout = AMBISONIC_LAYOUT if ambisonic else "stereo"
                stream = dst.add_stream(requested, rate=44100, layout=layout)
                _encode_audio(dst, stream, iter([np.zeros((stream.channels, 44100), np.float32)]))
        except REFUSED as err:
            raise ValueError(
                f"{FLAG}={requested}: the mp4 container (where every re-encoded video goes) cannot hold "
                f"{requested} {'4-channel ' if ambisonic else ''}audio ({type(err).__name__}: {err}); "
                f"use auto, aac or another of {', '.join(AUDIO_CODECS)}"
            ) from err


def candidates(video: str | os.PathLike, ambisonic: bool = False) -> list[str]:
    """Containers tried for a stream copy of ``video``'s picture, in order: mp4, then its own family (only
    one that carries an SA3D box when ``ambisonic``)."""
    family = FAMILY.get(Path(video).suffix.lower())
    return [".mp4"] + ([family] if family and (family in TAGGED or not ambisonic) else [])


def write_output(
    video: str | os.PathLike,
    wav: str | os.PathLike,
    stem: str | os.PathLike,
    audio_codec: str = "auto",
    ambisonic: bool = False,
) -> OutputVideo:
    """Write ``video``'s picture with the audio of ``wav`` to ``stem`` + the chosen suffix (see the module).

    Args:
        video: the input video; its own audio streams are dropped.
        wav: stereo audio file, read in blocks (its length should be the video's duration); with
            ``ambisonic``, a 4-channel ambiX file (W, Y, Z, X; SN3D).
        stem: output path without suffix.
        audio_codec: one of :data:`AUDIO_CODECS`.
        ambisonic: write the 4 channels as first-order ambiX, tagged with an SA3D box (mp4 or mov only).

    Returns:
        the written output.

    Raises:
        Exception: what the H.264 re-encode (the last resort) raised, or the rename onto the output path.
    """
    _check_channels(wav, ambisonic)
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    reasons = []
    for suffix in candidates(video, ambisonic):
        codec = audio_codec_for(suffix, audio_codec)
        out = stem.with_name(stem.name + suffix)
        try:
            tmp, result = _attempt(video, wav, out, codec, reencode=False, ambisonic=ambisonic)
        except REFUSED as err:
            reasons.append(f"{suffix}: {type(err).__name__}: {err}")
            continue
        return _commit(tmp, result)
    log.info("%s: re-encoding the picture to H.264 (%s)", video, "; ".join(reasons))
    return reencode_output(video, wav, stem, audio_codec, ambisonic)


def reencode_output(
    video: str | os.PathLike,
    wav: str | os.PathLike,
    stem: str | os.PathLike,
    audio_codec: str = "auto",
    ambisonic: bool = False,
) -> OutputVideo:
    """``stem.mp4``: ``video``'s picture re-encoded to H.264 (:mod:`stereosync.reencode`) with ``wav``'s audio.

    Args: as :func:`write_output`.
    """
    _check_channels(wav, ambisonic)
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = stem.with_name(stem.name + ".mp4")
    return _commit(*_attempt(video, wav, out, audio_codec_for(".mp4", audio_codec), True, ambisonic))


def _commit(tmp: Path, result: OutputVideo) -> OutputVideo:
    """Rename a complete temporary file onto the output path (it is removed if that fails)."""
    try:
        os.replace(tmp, result.path)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def _attempt(
    video: str | os.PathLike, wav: str | os.PathLike, out: Path, codec: str, reencode: bool, ambisonic: bool = False
) -> tuple[Path, OutputVideo]:
    """One try into a temporary file beside ``out`` (removed if the try fails); returns it and the result.

    An ambisonic track is tagged once the file is complete (:func:`stereosync.spatial.sa3d.inject_sa3d`).
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with av.open(str(video)) as src, av.open(str(tmp), "w", format=FORMAT[out.suffix]) as dst:
            vin = src.streams.video[0]
            encoder = H264Encode(dst, vin) if reencode else None
            # opaque: a copy needs no encoder (DNxHD's would refuse a DNxHR size; VP9's is external)
            vout = encoder.stream if encoder else dst.add_stream_from_template(vin, opaque=True)
            packets = encoder.packets(src) if encoder else _copied_packets(src, vin, vout)
            aout = dst.add_stream(codec, rate=_wav_rate(wav), layout=AMBISONIC_LAYOUT if ambisonic else "stereo")
            _interleave(dst, packets, aout, wav, float(vin.start_time * vin.time_base) if vin.start_time else 0.0)
            name = vout.codec_context.name
        if encoder and encoder.rotation:
            write_rotation(tmp, encoder.rotation)
        if ambisonic:
            try:
                inject_sa3d(tmp)
            except ValueError as err:  # not a container refusing a codec: no other container is tried
                raise RuntimeError(f"{out}: tagging the ambisonic track failed: {err}") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, OutputVideo(out, name, codec, not reencode, ambisonic)


def _check_channels(wav: str | os.PathLike, ambisonic: bool) -> None:
    """Refuse an ambisonic output from a file that is not 4-channel (naming the file)."""
    import soundfile

    channels = soundfile.info(str(wav)).channels
    if ambisonic and channels != 4:
        raise ValueError(f"{wav}: a first-order ambisonic track needs a 4-channel file, this one has {channels}")


def _wav_rate(wav: str | os.PathLike) -> int:
    import soundfile

    return int(soundfile.info(str(wav)).samplerate)


def _copied_packets(src: av.container.InputContainer, vin: av.VideoStream, vout: av.VideoStream):
    """The input's video packets, retargeted at the output stream (no decoding)."""
    for packet in src.demux(vin):
        if packet.dts is None:  # the demuxer's end-of-stream flush packet
            continue
        packet.stream = vout
        yield packet


def _interleave(
    dst: av.container.OutputContainer, packets, aout: av.AudioStream, wav: str | os.PathLike, start: float
) -> None:
    """Mux video ``packets`` with the wav's audio, keeping the audio about half a second ahead of the picture.

    The audio starts at ``start`` (s, the video stream's start time): the generated audio's time axis begins
    at the first frame, as the extraction's does. Interleaving here (instead of all video, then all audio)
    keeps the muxer's buffer short whatever the video's length, and gives a file that plays while it streams.
    """
    blocks = media.wav_blocks(wav, channels=aout.channels)
    rate = aout.rate
    written = int(round(start * rate))
    exhausted = False
    for packet in packets:
        t = float((packet.dts if packet.dts is not None else packet.pts or 0) * packet.time_base)
        while not exhausted and written < (t + 0.5) * rate:
            block = next(blocks, None)
            if block is None:
                exhausted = True
                break
            written = _encode_block(dst, aout, block, written)
        dst.mux(packet)
    for block in blocks:
        written = _encode_block(dst, aout, block, written)
    for out_packet in aout.encode(None):
        dst.mux(out_packet)


def _encode_block(dst: av.container.OutputContainer, aout: av.AudioStream, block: np.ndarray, at: int) -> int:
    """Encode (C, n) float audio starting at sample ``at``; returns the next sample index."""
    layout = aout.layout.name
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block, np.float32), format="fltp", layout=layout)
    frame.sample_rate, frame.pts = aout.rate, at
    for packet in aout.encode(frame):
        dst.mux(packet)
    return at + block.shape[1]


def _encode_audio(dst: av.container.OutputContainer, aout: av.AudioStream, blocks) -> None:
    written = 0
    for block in blocks:
        written = _encode_block(dst, aout, block, written)
    for packet in aout.encode(None):
        dst.mux(packet)
