"""Short silent clips in the codecs and containers people feed to ``predict``, written with PyAV.

Every clip shows a moving gradient (so encoders have something to code) and has no audio track. Sizes are
small so the whole set takes a few seconds to write.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class ClipFormat:
    """How to write one kind of clip.

    Attributes:
        name: file stem.
        suffix: container extension.
        codec: PyAV encoder name.
        pix_fmt: pixel format handed to the encoder.
        options: encoder options.
        size: (width, height) in pixels.
    """

    name: str
    suffix: str
    codec: str
    pix_fmt: str
    options: tuple[tuple[str, str], ...] = ()
    size: tuple[int, int] = (160, 96)


# The eight formats of a typical mixed folder, then Cinepak (an old codec only AVI holds).
FORMATS = {
    "prores": ClipFormat("prores", ".mov", "prores_ks", "yuv422p10le", (("profile", "2"),)),
    # DNxHR (any size the other DNxHD profiles refuse) needs a picture at least 256 pixels wide.
    "dnxhd": ClipFormat("dnxhd", ".mov", "dnxhd", "yuv422p", (("profile", "dnxhr_lb"),), (256, 144)),
    "msmpeg4": ClipFormat("msmpeg4", ".avi", "msmpeg4", "yuv420p"),
    "mjpeg": ClipFormat("mjpeg", ".avi", "mjpeg", "yuvj420p"),
    "ffv1": ClipFormat("ffv1", ".mkv", "ffv1", "yuv420p"),
    "vp9": ClipFormat("vp9", ".webm", "libvpx-vp9", "yuv420p", (("deadline", "realtime"), ("cpu-used", "8"))),
    "h264_10bit": ClipFormat("h264_10bit", ".mp4", "libx264", "yuv420p10le", (("preset", "ultrafast"),)),
    "h264_422_10bit": ClipFormat("h264_422_10bit", ".mp4", "libx264", "yuv422p10le", (("preset", "ultrafast"),)),
    "cinepak": ClipFormat("cinepak", ".avi", "cinepak", "rgb24", size=(96, 64)),  # a slow encoder: a small picture
}
EIGHT = ["prores", "dnxhd", "msmpeg4", "mjpeg", "ffv1", "vp9", "h264_10bit", "h264_422_10bit"]


def _picture(i: int, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 gradient that moves with the frame index ``i``."""
    x = (np.arange(width)[None, :] + 4 * i) % 256
    y = np.arange(height)[:, None] * 255 // max(1, height - 1)
    img = np.stack(np.broadcast_arrays(x, y, (x + y) // 2), axis=-1)
    return np.ascontiguousarray(img, dtype=np.uint8)


def write_clip(
    fmt: ClipFormat,
    folder: Path,
    seconds: float = 2.0,
    fps: int = 25,
    frame_times: list[float] | None = None,
) -> Path:
    """Write a silent clip of ``fmt`` into ``folder``; returns its path.

    Args:
        fmt: codec, pixel format, size and container.
        folder: where the file goes (created).
        seconds: length at a constant ``fps`` (ignored with ``frame_times``).
        fps: frame rate.
        frame_times: explicit presentation times in s (a variable-frame-rate clip), in a 1/1000 s time base.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{fmt.name}{fmt.suffix}"
    width, height = fmt.size
    with av.open(str(path), "w") as c:
        s = c.add_stream(fmt.codec, rate=fps, options=dict(fmt.options))
        s.width, s.height, s.pix_fmt = width, height, fmt.pix_fmt
        if frame_times is not None:
            s.codec_context.time_base = Fraction(1, 1000)
        times = frame_times if frame_times is not None else [i / fps for i in range(int(round(seconds * fps)))]
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(_picture(i, width, height), format="rgb24")
            frame = frame.reformat(format=fmt.pix_fmt) if fmt.pix_fmt != "rgb24" else frame
            if frame_times is not None:
                frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
            else:
                frame.pts = i
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    return path


def variable_rate_clip(folder: Path) -> Path:
    """An H.264 mp4 whose frame intervals change: 2 s at 25 fps followed by 1 s at 10 fps."""
    times = [i / 25 for i in range(50)] + [2.0 + i / 10 for i in range(10)]
    fmt = ClipFormat("vfr", ".mp4", "libx264", "yuv420p", (("preset", "ultrafast"), ("bf", "0")))
    return write_clip(fmt, folder, frame_times=times)


def odd_sized_clip(folder: Path) -> Path:
    """A 4:4:4 FFV1 avi of 161×97 pixels (re-encoded: mp4 cannot hold FFV1; H.264 4:2:0 needs even sizes)."""
    return write_clip(ClipFormat("odd", ".avi", "ffv1", "yuv444p", size=(161, 97)), folder)


def clip_422_10bit(folder: Path) -> Path:
    """A 4:2:2 10-bit FFV1 avi (re-encoded, so converted to 8-bit 4:2:0)."""
    return write_clip(ClipFormat("ffv1_422_10bit", ".avi", "ffv1", "yuv422p10le"), folder)


def rotated_clip(folder: Path, degrees: int = 90) -> Path:
    """An H.264 mp4 whose track header carries a display matrix that rotates it by ``degrees``."""
    fmt = ClipFormat("rotated", ".mp4", "libx264", "yuv420p", (("preset", "ultrafast"),))
    path = write_clip(fmt, folder)
    set_display_rotation(path, degrees)
    return path


def set_display_rotation(mp4: Path, degrees: int) -> None:
    """Write a rotation into the ``tkhd`` matrix of ``mp4``'s first track (the field players read).

    The muxer writes the identity matrix; the box layout is fixed (ISO/IEC 14496-12 8.3.2), so the nine
    32-bit matrix entries are overwritten in place.
    """
    data = bytearray(mp4.read_bytes())
    at = data.index(b"tkhd") - 4
    version = data[at + 8]
    matrix_at = at + 12 + (32 if version == 1 else 20) + 16  # after times/ids, reserved, layer … volume
    rad = np.deg2rad(degrees)
    cos, sin = int(round(np.cos(rad))), int(round(np.sin(rad)))
    values = [cos << 16, sin << 16, 0, -sin << 16, cos << 16, 0, 0, 0, 1 << 30]
    data[matrix_at : matrix_at + 36] = b"".join(struct.pack(">i", v) for v in values)
    mp4.write_bytes(bytes(data))


def truncated_copy(path: Path, out: Path) -> Path:
    """The first half of ``path``'s bytes (a download cut short)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def decode_all(path: Path) -> dict:
    """Decode every frame of ``path``'s streams; returns counts, rates, codec names and durations in s."""
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0] if c.streams.audio else None
        frames, samples = 0, 0
        for frame in c.decode(*[s for s in (v, a) if s is not None]):
            if isinstance(frame, av.VideoFrame):
                frames += 1
            else:
                samples += frame.samples
        return {
            "container": c.format.name,
            "video_codec": v.codec_context.name,
            "frames": frames,
            "audio_codec": a.codec_context.name if a is not None else None,
            "channels": a.codec_context.channels if a is not None else 0,
            "rate": a.rate if a is not None else 0,
            "audio_seconds": samples / a.rate if a is not None else 0.0,
            "size": (v.codec_context.width, v.codec_context.height),
        }
