"""Decode a video with PyAV into fixed-rate chunks: frames at 4 and 30 fps, audio at 44.1 kHz stereo.

Frames are picked by timestamp (:mod:`.timeline`), so any source rate works, variable ones included.
Audio is placed by its timestamps too (a lost packet leaves silence at the right place instead of
shifting everything after it), mono is duplicated and more than two channels are downmixed (FFmpeg's
standard stereo downmix), each with a logged warning; other sample rates are resampled (bandlimited sinc).
Packets that fail to decode are skipped and their times recorded, so the caller can drop the chunks they
touch. Frames are scaled so the long side is at most ``max_side`` pixels: decoding a 4K video keeps the
memory of a small one, and the models resize anyway.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from stereosync.extract import errors
from stereosync.extract.timeline import GridSampler

log = logging.getLogger(__name__)

_CONTAINER_MAGIC = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")  # ISO-BMFF box types at byte 4
_OTHER_MAGIC = (b"\x1a\x45\xdf\xa3", b"RIFF", b"OggS", b"FLV", b"\x00\x00\x01\xba", b"\x47")  # mkv, avi, ogg...
_JITTER_SAMPLES = 64  # timestamp disagreement tolerated before audio is treated as having a gap


@dataclass
class DecodeConfig:
    """How videos are cut.

    Attributes:
        depth_fps: depth frame grid in Hz (paper: 4).
        box_fps: box frame grid in Hz (paper: 30).
        sample_rate: output audio rate in Hz.
        chunk_seconds: chunk length in s.
        max_side: frames are scaled so their long side is at most this many pixels.
        history_seconds: audio before each chunk handed along with it (causal features such as the RMS
            envelope then see the same past as on the whole track).
        hop_seconds: time between chunk starts; None = ``chunk_seconds`` (consecutive chunks, the training
            layout). Smaller values overlap chunks (generation cross-fades them). A multiple of both frame
            periods (0.5 s for 4 and 30 fps).
        pad_tail: also cut the last, partial chunk (frames after the end repeat the last frame, audio after the
            end is silence), so the chunks cover the whole video; False drops a tail shorter than a chunk.
        allow_silent: a video without an audio stream yields chunks without audio (``Chunk.audio`` None)
            instead of failing with :class:`~stereosync.extract.errors.NoAudioStreamError`.
    """

    depth_fps: float = 4.0
    box_fps: float = 30.0
    sample_rate: int = 44100
    chunk_seconds: float = 2.0
    max_side: int = 640
    history_seconds: float = 0.5
    hop_seconds: float | None = None
    pad_tail: bool = False
    allow_silent: bool = False

    def hop(self) -> float:
        """Seconds between chunk starts (checked against the frame grids)."""
        hop = self.chunk_seconds if self.hop_seconds is None else float(self.hop_seconds)
        if not 0 < hop <= self.chunk_seconds:
            raise ValueError(f"hop_seconds {hop} must be in (0, chunk_seconds = {self.chunk_seconds}]")
        for fps in (self.depth_fps, self.box_fps):
            if abs(hop * fps - round(hop * fps)) > 1e-6:
                raise ValueError(f"hop_seconds {hop} is not a whole number of frames at {fps} fps")
        return hop


@dataclass
class DecodeReport:
    """What decoding one video noticed. Filled while :func:`iter_chunks` runs."""

    warnings: list[str] = field(default_factory=list)
    bad_times: list[float] = field(default_factory=list)
    chunks: int = 0
    tail_seconds: float = 0.0
    duration: float = 0.0
    width: int = 0
    height: int = 0
    source_fps: float = 0.0

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(message)
        log.warning("%s: %s", path, message)


@dataclass
class Chunk:
    """One chunk of a video.

    Attributes:
        index: chunk number in the video (0-based).
        start: start time in s from the first video frame.
        audio: (2, S) float32 stereo at the configured rate; None for a silent video.
        depth_frames: (FD, H, W, 3) uint8 RGB frames at ``depth_fps``.
        box_frames: (FB, H, W, 3) uint8 RGB frames at ``box_fps``.
        box_times: (FB,) grid times in s of ``box_frames``.
        history: (2, H) float32 audio just before ``audio`` (H <= history_seconds x rate; 0 at the start);
            None for a silent video.
        previous_box_frame: (H, W, 3) the box-grid frame just before ``box_frames[0]``; None at the start.
        valid_seconds: seconds of the chunk inside the video (less than the chunk for a padded tail).
    """

    index: int
    start: float
    audio: np.ndarray | None
    depth_frames: np.ndarray
    box_frames: np.ndarray
    box_times: np.ndarray
    history: np.ndarray | None
    previous_box_frame: np.ndarray | None = None
    valid_seconds: float = 0.0


def open_container(path: str | os.PathLike):
    """Open ``path`` with PyAV, turning its errors into :mod:`.errors` types."""
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as err:
        with open(path, "rb") as fh:
            head = fh.read(12)
        if head[4:8] in _CONTAINER_MAGIC or head.startswith(_OTHER_MAGIC):
            raise errors.UnreadableContainerError(
                f"media container cannot be opened (truncated or damaged?): {err}"
            ) from err
        raise errors.NotAVideoError(f"not a media file ({err}); first bytes {head[:8]!r}") from err


def _streams(container, path: str, allow_silent: bool = False):
    if not container.streams.video:
        raise errors.NoVideoStreamError("no video stream (audio-only file)")
    if not container.streams.audio:
        if allow_silent:
            return container.streams.video[0], None
        raise errors.NoAudioStreamError("no audio stream; samples need the clip's own audio")
    return container.streams.video[0], container.streams.audio[0]


def has_audio_stream(path: str | os.PathLike) -> bool:
    """Whether ``path`` has an audio stream (raises the :mod:`.errors` types for unusable files)."""
    with open_container(path) as container:
        _, audio = _streams(container, str(path), allow_silent=True)
        return audio is not None


def _packets(container, stream, report: DecodeReport, path: str) -> Iterator:
    """Decoded frames of one stream; undecodable packets are skipped and their time recorded."""
    import av

    last_t = 0.0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError as err:
            t = float(packet.pts * packet.time_base) if packet.pts is not None else last_t
            report.bad_times.append(t)
            log.debug("%s: %s packet at %.3f s does not decode: %s", path, stream.type, t, err)
            continue
        for frame in frames:
            if frame.time is not None:
                last_t = frame.time
            if getattr(frame, "is_corrupt", False):
                report.bad_times.append(last_t)
            yield frame


def _time_origin(video_stream) -> float:
    if video_stream.start_time is not None:
        return float(video_stream.start_time * video_stream.time_base)
    return 0.0


def load_audio(path: str | os.PathLike, cfg: DecodeConfig, report: DecodeReport) -> np.ndarray | None:
    """Whole audio track as (2, S) float32 at ``cfg.sample_rate``, time 0 = the first video frame; None for a
    video without audio when ``cfg.allow_silent``."""
    import av

    path = str(path)
    with open_container(path) as container:
        vstream, astream = _streams(container, path, cfg.allow_silent)
        if astream is None:
            return None
        t0, rate = _time_origin(vstream), astream.rate or astream.codec_context.sample_rate
        channels = astream.codec_context.channels
        if channels == 1:
            report.warn(path, "mono audio: duplicated to both channels")
        elif channels > 2:
            report.warn(path, f"{channels}-channel audio ({astream.layout.name}): downmixed to stereo")
        layout = "stereo" if channels > 2 else ("mono" if channels == 1 else "stereo")
        converter = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        pieces, cursor = [], None  # cursor: next expected sample index on the output timeline
        for frame in _packets(container, astream, report, path):
            for out in converter.resample(frame):
                cursor = _place(pieces, out.to_ndarray(), frame.time, t0, rate, cursor, report)
        for out in converter.resample(None):
            cursor = _place(pieces, out.to_ndarray(), None, t0, rate, cursor, report)
    audio = np.concatenate(pieces, axis=1) if pieces else np.zeros((2, 0), np.float32)
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    if rate != cfg.sample_rate:
        report.warn(path, f"audio at {rate} Hz: resampled to {cfg.sample_rate} Hz")
        audio = _resample(audio, rate, cfg.sample_rate)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def _place(
    pieces: list, data: np.ndarray, time: float | None, t0: float, rate: int, cursor: int | None, report: DecodeReport
) -> int:
    """Append ``data`` (C, n) at its timestamp: silence fills gaps, samples before time 0 are trimmed.

    Returns:
        The new cursor (next sample index of the output timeline).
    """
    start = cursor or 0
    if time is not None:
        stamped = int(round((time - t0) * rate))
        if cursor is None or abs(stamped - cursor) > _JITTER_SAMPLES:  # a gap, or the first frame
            start = stamped
    cursor = cursor or 0
    if start > cursor:
        if cursor > 0:
            report.bad_times.append(cursor / rate)
        pieces.append(np.zeros((data.shape[0], start - cursor), np.float32))
        cursor = start
    skip = cursor - start  # samples before time 0, or overlapping what is there already
    if skip < data.shape[1]:
        pieces.append(data[:, skip:].astype(np.float32))
        cursor += data.shape[1] - skip
    return cursor


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    import torch
    import torchaudio.functional as AF

    g = math.gcd(rate, target)
    return AF.resample(torch.from_numpy(audio), rate // g, target // g).numpy()


def _target_size(width: int, height: int, rotation: int, max_side: int) -> tuple[int, int, int]:
    """(decode width, decode height, quarter turns) so the displayed long side is <= ``max_side``."""
    turns = int(round(-rotation / 90)) % 4 if rotation else 0
    scale = min(1.0, max_side / max(width, height))
    w, h = max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)
    return w, h, turns


def iter_chunks(path: str | os.PathLike, cfg: DecodeConfig, report: DecodeReport) -> Iterator[Chunk]:
    """Decode ``path`` into chunks, in order.

    Args:
        path: video file.
        cfg: grids, rate, chunk length and hop, tail and silence handling, frame size.
        report: filled with warnings, undecodable times, chunk count, dropped tail, frame size.

    Yields:
        :class:`Chunk` every ``hop`` seconds: each whole chunk within the shorter of the audio and video, plus
        the padded last one with ``cfg.pad_tail``.

    Raises:
        ExtractError: subclasses for unusable files (see :mod:`.errors`).
    """
    path = str(path)
    audio = load_audio(path, cfg, report)
    from stereosync.extract.cutter import ChunkCutter

    cutter = ChunkCutter(cfg, audio, report)
    grids = {"depth": GridSampler(cfg.depth_fps), "box": GridSampler(cfg.box_fps)}
    state = {"end": 0.0, "frames": 0}

    with open_container(path) as container:
        vstream, _ = _streams(container, path, allow_silent=True)
        vstream.thread_type = "AUTO"
        t0 = _time_origin(vstream)
        report.source_fps = float(vstream.average_rate or 0)
        convert = _converter(vstream, cfg, report, path)

        for frame in _packets(container, vstream, report, path):
            t = (frame.time if frame.time is not None else state["end"] + t0) - t0
            dur = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else None
            state["end"] = max(state["end"], t + (dur or 1.0 / (report.source_fps or cfg.box_fps)))
            state["frames"] += 1
            for name in grids:
                cutter.settle(name, ((k, convert(f)) for k, f in grids[name].push(t, frame)))
            yield from cutter.ready(state["end"], final=False)
        if state["frames"] == 0:
            raise errors.ZeroFramesError("the video stream has no decodable frame")
        for name in grids:
            cutter.settle(name, ((k, convert(f)) for k, f in grids[name].finish(state["end"])))
    report.duration = min(state["end"], cutter.audio_seconds) if audio is not None else state["end"]
    yield from cutter.ready(state["end"], final=True)
    covered = (report.chunks - 1) * cutter.hop + cfg.chunk_seconds if report.chunks else 0.0
    report.tail_seconds = max(0.0, report.duration - covered)
    if report.chunks == 0:
        audio_part = f", audio {cutter.audio_seconds:.2f} s" if audio is not None else ""
        raise errors.TooShortError(
            f"usable length {report.duration:.2f} s (video {state['end']:.2f} s{audio_part}) is shorter than "
            f"one {cfg.chunk_seconds:g}-s chunk"
        )


def _converter(vstream, cfg: DecodeConfig, report: DecodeReport, path: str):
    """Frame -> (H, W, 3) uint8 RGB, scaled and turned upright; each source frame converted once."""
    cache: dict[int, tuple[object, np.ndarray]] = {}  # holds the frame too, so its id cannot be reused
    size: list[tuple[int, int, int]] = []

    def convert(frame) -> np.ndarray:
        hit = cache.get(id(frame))
        if hit is not None and hit[0] is frame:
            return hit[1]
        if not size:
            rotation = int(getattr(frame, "rotation", 0) or 0)
            size.append(_target_size(frame.width, frame.height, rotation, cfg.max_side))
            report.width, report.height = (frame.height, frame.width) if size[0][2] % 2 else (frame.width, frame.height)
            if max(frame.width, frame.height) > cfg.max_side:
                log.info("%s: %dx%d frames scaled to long side %d", path, frame.width, frame.height, cfg.max_side)
        w, h, turns = size[0]
        img = frame.to_ndarray(format="rgb24", width=w, height=h)
        img = np.ascontiguousarray(np.rot90(img, k=turns)) if turns else img
        if len(cache) >= 4:  # grid points only reuse the latest two frames
            cache.pop(next(iter(cache)))
        cache[id(frame)] = (frame, img)
        return img

    return convert
