"""Re-encoding a picture that no output container can hold as is: H.264 (libx264), 8-bit 4:2:0, even size.

Each decoded frame keeps its presentation time (variable-frame-rate sources keep their timing); 4:2:2,
4:4:4, 10-bit and RGB pictures are converted to 8-bit yuv420p; odd widths/heights are scaled to the even size
just below (H.264 4:2:0 needs even sizes). The source's rotation is written into the output's track header.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# crf 18: visually lossless; veryfast: cheap on a CPU. No B-frames: with reordered frames the mp4 track ends
# at the last decode timestamp, which in variable-frame-rate video falls short of the last frame's end.
X264_OPTIONS = {"preset": "veryfast", "crf": "18", "bf": "0"}


class H264Encode:
    """An H.264 output stream fed from an input video stream.

    Args:
        dst: the output container (mp4).
        vin: the input's video stream.

    Attributes:
        stream: the output stream.
        rotation: the source's display rotation in degrees as PyAV reports it (``VideoFrame.rotation``),
            known once the first frame is decoded.
    """

    def __init__(self, dst: av.container.OutputContainer, vin: av.VideoStream):
        cc = vin.codec_context
        self.width, self.height = max(2, cc.width - cc.width % 2), max(2, cc.height - cc.height % 2)
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        self.stream = dst.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
        self.stream.width, self.stream.height, self.stream.pix_fmt = self.width, self.height, "yuv420p"
        self.time_base = vin.time_base or Fraction(1, int(round(float(rate) * 1000)))
        self.stream.time_base = self.time_base
        self.stream.codec_context.time_base = self.time_base
        if vin.sample_aspect_ratio:
            self.stream.sample_aspect_ratio = vin.sample_aspect_ratio
        self.vin, self.rotation = vin, 0.0

    def packets(self, src: av.container.InputContainer) -> Iterator[av.Packet]:
        """Decode every frame of the input stream and yield the encoded packets (then the encoder's tail)."""
        durations: dict[int, int] = {}  # pts → frame duration, for the packets libx264 leaves without one
        default = max(1, int(round(1 / (float(self.stream.average_rate or 25) * self.time_base))))
        last = None
        for frame in src.decode(self.vin):
            if last is None:
                self.rotation = float(frame.rotation or 0.0)
            pts = frame.pts if frame.pts is not None else (0 if last is None else last + 1)
            pts = pts if last is None or pts > last else last + 1  # x264 refuses repeated timestamps
            out = frame.reformat(width=self.width, height=self.height, format="yuv420p")
            out.pts, out.time_base, last = pts, self.time_base, pts
            durations[pts] = frame.duration or default
            yield from self._timed(self.stream.encode(out), durations)
        yield from self._timed(self.stream.encode(None), durations)

    @staticmethod
    def _timed(packets: list[av.Packet], durations: dict[int, int]) -> Iterator[av.Packet]:
        """Give each packet its frame's duration: the muxer ends the track at the last packet's end."""
        for packet in packets:
            if packet.pts is not None and not packet.duration:
                packet.duration = durations.pop(packet.pts, 0)
            yield packet


def write_rotation(mp4: str | os.PathLike, rotation: float) -> None:
    """Write ``rotation`` (degrees, as ``VideoFrame.rotation`` reports it) into the first track's header.

    The mp4 muxer writes the identity matrix; the ``tkhd`` box has a fixed layout (ISO/IEC 14496-12 8.3.2),
    so its nine 32-bit matrix entries are overwritten in place.

    Raises:
        ValueError: naming the file, when it has no ``moov/trak/tkhd`` box.
    """
    at, version = _find_tkhd(Path(mp4))
    matrix_at = at + 12 + (32 if version == 1 else 20) + 16  # after times/ids, reserved, layer … volume
    rad = np.deg2rad(-rotation)  # FFmpeg reports the matrix's rotation with the opposite sign
    cos, sin = float(np.cos(rad)), float(np.sin(rad))
    values = [_fixed(cos), _fixed(sin), 0, _fixed(-sin), _fixed(cos), 0, 0, 0, 1 << 30]
    with open(mp4, "r+b") as fh:
        fh.seek(matrix_at)
        fh.write(b"".join(struct.pack(">i", v) for v in values))


def _fixed(x: float) -> int:
    """16.16 fixed point, with exact 0/±1 for the right angles."""
    return int(round(x * (1 << 16)))


def _find_tkhd(mp4: Path) -> tuple[int, int]:
    """(file offset, version) of the first track's ``tkhd`` box, walking box headers only."""
    with open(mp4, "rb") as fh:
        size = mp4.stat().st_size
        for box in ("moov", "trak", "tkhd"):
            start, end, found = fh.tell(), size, None
            while start + 8 <= end:
                fh.seek(start)
                n, kind = struct.unpack(">I4s", fh.read(8))
                if n == 1:
                    n = struct.unpack(">Q", fh.read(8))[0]
                n = n or end - start
                if kind.decode("latin-1") == box:
                    found = start
                    break
                start += n
            if found is None:
                raise ValueError(f"{mp4}: no {box} box, so the rotation cannot be written")
            fh.seek(found + 8)
            size = found + n
        fh.seek(found + 8)
        return found, fh.read(1)[0]
