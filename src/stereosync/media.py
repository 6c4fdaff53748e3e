"""Audio/video file helpers for generation outputs: read reference audio, mux generated audio into a video."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch


def read_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Any audio file soundfile reads (wav, flac, ogg …) → (2, T) float32 at ``sample_rate`` (mono duplicated,
    more channels downmixed)."""
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (T, C)
    audio = data.T
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    elif audio.shape[0] > 2:
        audio = np.repeat(audio.mean(axis=0, keepdims=True), 2, axis=0)
    if rate != sample_rate:
        import torchaudio.functional as AF

        audio = AF.resample(torch.from_numpy(np.ascontiguousarray(audio)), rate, sample_rate).numpy()
    return np.ascontiguousarray(audio, dtype=np.float32)


def video_duration(path: str | os.PathLike) -> tuple[float, float]:
    """(duration in s, frame rate) of a file's first video stream."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base), fps
        if stream.frames and fps:
            return stream.frames / fps, fps
        return float(container.duration or 0) / 1e6, fps


def mux_audio(
    video: str | os.PathLike, audio: np.ndarray, sample_rate: int, out: str | os.PathLike, codec: str = "aac"
) -> Path:
    """Copy ``video``'s video stream (no re-encoding) and add ``audio`` (2, T) as a stereo ``codec`` stream.

    Args:
        video: source video file; its own audio streams are dropped.
        audio: (2, T) float waveform in [-1, 1].
        sample_rate: rate of ``audio`` in Hz (written as is).
        out: output path (``.mp4``).
    """
    import av

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    audio = np.clip(np.asarray(audio, np.float32), -1, 1)
    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        aout = dst.add_stream(codec, rate=sample_rate, layout="stereo")
        for packet in src.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            dst.mux(packet)
        frame_size = aout.codec_context.frame_size or 1024
        for start in range(0, audio.shape[1], frame_size):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(audio[:, start : start + frame_size]), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = sample_rate, start
            for packet in aout.encode(frame):
                dst.mux(packet)
        for packet in aout.encode(None):
            dst.mux(packet)
    return out


def wav_blocks(path: str | os.PathLike, block: int = 65536, channels: int = 2) -> Iterator[np.ndarray]:
    """An audio file as consecutive (``channels``, ≤ ``block``) float32 blocks, so it is never held whole (a file
    with another channel count gives its first channel on every channel)."""
    import soundfile

    with soundfile.SoundFile(str(path)) as fh:
        while True:
            data = fh.read(block, dtype="float32", always_2d=True)  # (n, C)
            if not len(data):
                return
            same = data.shape[1] == channels
            yield np.ascontiguousarray(data.T if same else np.repeat(data[:, :1].T, channels, axis=0))
