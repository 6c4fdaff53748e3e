"""Google's Spatial Audio box (``SA3D``): tag an mp4/mov audio track as ambisonic, and read the tag back.

360° video players (YouTube, VLC, FFmpeg's demuxer, Google's spatial-media tool) recognise an ambisonic track
by an ``SA3D`` box inside the track's sound sample entry (``mp4a``, ``ipcm``, ``sowt``, ``in24``, ``lpcm`` …),
as Google's Spatial Audio RFC defines it::

    moov / trak / mdia / minf / stbl / stsd / <sample entry> / SA3D

    unsigned int(8)  version                     0
    unsigned int(8)  ambisonic_type              0: periphonic (full sphere)
    unsigned int(32) ambisonic_order             1 for first order
    unsigned int(8)  ambisonic_channel_ordering  0: ACN
    unsigned int(8)  ambisonic_normalization     0: SN3D
    unsigned int(32) num_channels
    unsigned int(32) channel_map[num_channels]   track channel i carries ACN component channel_map[i]

:func:`inject_sa3d` rewrites only the ``moov`` box: the box is appended to each audio sample entry and every
enclosing box's size grows by its length. Media data before the ``moov`` (the usual layout, ``mdat`` first)
does not move; media data after it (a "fast start" file, ``moov`` first) moves by that growth, so each chunk
offset (``stco``/``co64``) that points past the old ``moov`` is shifted by the same amount.

Run ``python -m stereosync.spatial.sa3d FILE…`` to print each audio track's tag.
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Boxes that hold only boxes, on the way from moov to the sample descriptions.
CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")
# Bytes of a sound sample entry's own fields before its child boxes (after the 8-byte box header):
# 28 in ISO mp4 (versions 0 and 1 alike) and in QuickTime version 0; QuickTime version 1 adds 16 bytes
# (samples per packet … bytes per sample) and version 2 is a 64-byte layout of its own.
ISO_FIELDS = 28
QUICKTIME_FIELDS = {0: 28, 1: 44, 2: 64}


@dataclass(frozen=True)
class SpatialAudio:
    """The content of an ``SA3D`` box (the defaults: first-order ambiX, W Y Z X in track channels 0 … 3).

    Attributes:
        ambisonic_order: 1 for first order; the track has (order + 1)² ambisonic channels.
        channel_map: per track channel, the ACN index of the component it carries.
        ambisonic_type: 0, periphonic.
        channel_ordering: 0, ACN.
        normalization: 0, SN3D.
        version: 0.
    """

    ambisonic_order: int = 1
    channel_map: tuple[int, ...] = (0, 1, 2, 3)
    ambisonic_type: int = 0
    channel_ordering: int = 0
    normalization: int = 0
    version: int = 0

    def box(self) -> bytes:
        """The whole ``SA3D`` box, header included."""
        body = struct.pack(
            ">BBIBBI", self.version, self.ambisonic_type, self.ambisonic_order,
            self.channel_ordering, self.normalization, len(self.channel_map),
        )  # fmt: skip
        body += b"".join(struct.pack(">I", c) for c in self.channel_map)
        return struct.pack(">I4s", 8 + len(body), b"SA3D") + body

    @classmethod
    def parse(cls, payload: bytes) -> SpatialAudio:
        """The fields of an ``SA3D`` box's content (the bytes after its header).

        Raises:
            ValueError: the content is shorter than its channel count says.
        """
        if len(payload) < 12:
            raise ValueError(f"an SA3D box holds at least 12 bytes, this one {len(payload)}")
        version, kind, order, ordering, norm, n = struct.unpack(">BBIBBI", payload[:12])
        if len(payload) < 12 + 4 * n:
            raise ValueError(f"an SA3D box of {n} channels needs {12 + 4 * n} bytes, this one has {len(payload)}")
        channel_map = struct.unpack(f">{n}I", payload[12 : 12 + 4 * n])
        return cls(order, tuple(channel_map), kind, ordering, norm, version)

    def describe(self) -> str:
        """One line, e.g. ``ambisonic order 1, ACN, SN3D, channel map 0 1 2 3``."""
        ordering = {0: "ACN"}.get(self.channel_ordering, f"ordering {self.channel_ordering}")
        norm = {0: "SN3D"}.get(self.normalization, f"normalisation {self.normalization}")
        kind = "" if self.ambisonic_type == 0 else f" (type {self.ambisonic_type})"
        return (
            f"ambisonic order {self.ambisonic_order}{kind}, {ordering}, {norm}, "
            f"channel map {' '.join(map(str, self.channel_map))}"
        )


FOA_AMBIX = SpatialAudio()


@dataclass
class Box:
    """One box of the ``moov`` tree.

    ``fields`` are the box's own bytes before its child boxes (``stsd``'s version and entry count, a sample
    entry's audio fields); a leaf keeps all its content there and has ``children`` None. ``tail`` holds bytes
    after the last child too short to be a box (old QuickTime writers end some entries with zeros).
    """

    kind: bytes
    fields: bytes
    children: list[Box] | None = None
    tail: bytes = b""
    large: bool = False  # the header used the 64-bit size form

    def child(self, kind: bytes) -> Box | None:
        return next((c for c in self.children or [] if c.kind == kind), None)

    def serialize(self) -> bytes:
        body = self.fields + b"".join(c.serialize() for c in self.children or []) + self.tail
        if self.large or 8 + len(body) > 0xFFFFFFFF:
            return struct.pack(">I4sQ", 1, self.kind, 16 + len(body)) + body
        return struct.pack(">I4s", 8 + len(body), self.kind) + body


def _boxes(data: bytes, start: int, end: int, where: str) -> tuple[list[Box], bytes]:
    """The boxes in ``data[start:end]`` as leaves, and the trailing bytes too short to be a box."""
    out = []
    while end - start >= 8:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        head, large = 8, size == 1
        if large:
            size, head = struct.unpack(">Q", data[start + 8 : start + 16])[0], 16
        elif size == 0:
            size = end - start
        if size < head or start + size > end:
            raise ValueError(f"{where}: box {kind!r} at byte {start} runs past its parent (size {size})")
        out.append(Box(kind, data[start + head : start + size], large=large))
        start += size
    return out, data[start:end]


def _open(box: Box, skip: int, where: str) -> None:
    """Make a leaf a container: its first ``skip`` content bytes are its own fields, the rest boxes."""
    content = box.fields
    if len(content) < skip:
        raise ValueError(f"{where}: box {box.kind!r} is too short ({len(content)} bytes)")
    box.fields = content[:skip]
    box.children, box.tail = _boxes(content, skip, len(content), where)
    if box.tail.strip(b"\x00"):
        raise ValueError(f"{where}: box {box.kind!r} ends with {len(box.tail)} bytes that are not a box")


def _parse_moov(data: bytes, where: str) -> Box:
    """The ``moov`` tree down to the sample descriptions (``stsd`` entries as leaves)."""
    moov = Box(b"moov", data)
    stack = [moov]
    while stack:
        box = stack.pop()
        _open(box, 8 if box.kind == b"stsd" else 0, where)
        stack.extend(c for c in box.children if c.kind in CONTAINERS or c.kind == b"stsd")
    return moov


def _handler(trak: Box) -> bytes | None:
    """A track's handler type (``soun`` for audio), from ``mdia/hdlr``."""
    mdia = trak.child(b"mdia")
    hdlr = mdia.child(b"hdlr") if mdia else None
    return hdlr.fields[8:12] if hdlr and len(hdlr.fields) >= 12 else None


def _sound_entries(moov: Box, quicktime: bool, where: str) -> Iterator[tuple[int, Box]]:
    """(audio track number from 1, sample entry) of each audio track, each entry opened into fields and boxes."""
    audio = [t for t in moov.children if t.kind == b"trak" and _handler(t) == b"soun"]
    for number, trak in enumerate(audio, start=1):
        stsd = trak
        for kind in (b"mdia", b"minf", b"stbl", b"stsd"):
            stsd = stsd.child(kind) if stsd else None
        if stsd is None:
            raise ValueError(f"{where}: audio track {number} has no mdia/minf/stbl/stsd box")
        for entry in stsd.children:
            if entry.children is None:
                version = struct.unpack(">H", entry.fields[8:10])[0] if len(entry.fields) >= 10 else 0
                skip = QUICKTIME_FIELDS.get(version) if quicktime else ISO_FIELDS
                if skip is None:
                    raise ValueError(f"{where}: audio track {number}: unknown sound description version {version}")
                _open(entry, skip, f"{where}: audio track {number}")
            yield number, entry


def _channels(entry: Box) -> int:
    """The channel count a sound sample entry declares (QuickTime version 2 keeps it in a 32-bit field)."""
    version = struct.unpack(">H", entry.fields[8:10])[0]
    if version == 2 and len(entry.fields) >= 44:
        return struct.unpack(">I", entry.fields[40:44])[0]
    return struct.unpack(">H", entry.fields[16:18])[0]


@dataclass(frozen=True)
class _TopBox:
    kind: bytes
    start: int
    size: int


def _top_level(fh, path: Path) -> list[_TopBox]:
    """The file's top-level boxes, from their headers only (media data is never read)."""
    total, start, out = path.stat().st_size, 0, []
    while start + 8 <= total:
        fh.seek(start)
        size, kind = struct.unpack(">I4s", fh.read(8))
        if size == 1:
            size = struct.unpack(">Q", fh.read(8))[0]
        elif size == 0:
            size = total - start
        if size < 8 or start + size > total:
            raise ValueError(
                f"{path}: not an mp4/mov file, or a truncated one (top-level box {kind!r} at byte {start} "
                f"runs past the end of the file)"
            )
        out.append(_TopBox(kind, start, size))
        start += size
    return out


def _read_moov(path: Path) -> tuple[Box, bool, _TopBox, list[_TopBox]]:
    """(moov tree, QuickTime file?, where the moov is, all top-level boxes)."""
    with open(path, "rb") as fh:
        top = _top_level(fh, path)
        moov = next((b for b in top if b.kind == b"moov"), None)
        if moov is None:
            raise ValueError(f"{path}: no moov box (not an mp4/mov file, or an unfinished one)")
        if any(b.kind == b"moof" for b in top):
            raise ValueError(f"{path}: fragmented mp4 (moof boxes) is not supported")
        ftyp = next((b for b in top if b.kind == b"ftyp"), None)
        brand = b""
        if ftyp is not None:
            fh.seek(ftyp.start + 8)
            brand = fh.read(4)
        fh.seek(moov.start)
        data = fh.read(moov.size)
    head = 16 if struct.unpack(">I", data[:4])[0] == 1 else 8
    tree = _parse_moov(data[head:], str(path))
    tree.large = head == 16
    return tree, ftyp is None or brand == b"qt  ", moov, top


def read_sa3d(path: str | os.PathLike) -> list[SpatialAudio | None]:
    """Each audio track's ``SA3D`` content (None for a track without one), in track order.

    Raises:
        ValueError: naming the file, when it is no mp4/mov file or its boxes do not nest.
    """
    path = Path(path)
    moov, quicktime, _, _ = _read_moov(path)
    out: dict[int, SpatialAudio | None] = {}
    for number, entry in _sound_entries(moov, quicktime, str(path)):
        box = entry.child(b"SA3D")
        if out.get(number) is None:
            out[number] = SpatialAudio.parse(box.fields) if box else None
    return list(out.values())


def inject_sa3d(path: str | os.PathLike, spatial: SpatialAudio = FOA_AMBIX) -> int:
    """Tag every audio track of an mp4/mov file with an ``SA3D`` box (replacing one already there), in place.

    Args:
        path: the file; it is rewritten through a temporary file beside it when media data follows the
            ``moov`` (only the ``moov`` is rewritten when it is the last box).
        spatial: the box's content; its channel count must be each audio track's.

    Returns:
        The number of audio tracks tagged.

    Raises:
        ValueError: naming the file: no audio track, a track whose channel count differs from the box's, a
            fragmented file, boxes that do not nest, or a chunk offset that no longer fits 32 bits.
    """
    path = Path(path)
    moov, quicktime, where, top = _read_moov(path)
    tagged = 0
    for number, entry in _sound_entries(moov, quicktime, str(path)):
        channels = _channels(entry)
        if channels != len(spatial.channel_map):
            raise ValueError(
                f"{path}: audio track {number} has {channels} channels, the SA3D box describes "
                f"{len(spatial.channel_map)}"
            )
        entry.children = [c for c in entry.children if c.kind != b"SA3D"]
        entry.children.append(Box(b"SA3D", spatial.box()[8:]))
        tagged += 1
    if not tagged:
        raise ValueError(f"{path}: no audio track to tag as ambisonic")
    growth = len(moov.serialize()) - where.size
    if growth:
        _shift_chunk_offsets(moov, where.start + where.size, growth, path)
    data = moov.serialize()
    if top[-1] == where:  # nothing follows the moov: rewrite it where it is
        with open(path, "r+b") as fh:
            fh.seek(where.start)
            fh.write(data)
            fh.truncate()
    else:
        _rewrite(path, where, data)
    return tagged


def _shift_chunk_offsets(moov: Box, after: int, growth: int, path: Path) -> None:
    """Add ``growth`` to every chunk offset at or past byte ``after`` (the media data that moves)."""
    for trak in (c for c in moov.children if c.kind == b"trak"):
        stbl = trak
        for kind in (b"mdia", b"minf", b"stbl"):
            stbl = stbl.child(kind) if stbl else None
        for box in stbl.children if stbl else []:
            if box.kind not in (b"stco", b"co64"):
                continue
            code = "I" if box.kind == b"stco" else "Q"
            count, width = struct.unpack(">I", box.fields[4:8])[0], struct.calcsize(code)
            end = 8 + count * width
            offsets = struct.unpack(f">{count}{code}", box.fields[8:end])
            moved = [o + growth if o >= after else o for o in offsets]
            if code == "I" and moved and max(moved) > 0xFFFFFFFF:
                raise ValueError(f"{path}: a chunk offset no longer fits the 32-bit stco box after the SA3D box")
            box.fields = box.fields[:8] + struct.pack(f">{count}{code}", *moved) + box.fields[end:]


def _rewrite(path: Path, where: _TopBox, moov: bytes) -> None:
    """Copy the file with the new ``moov`` in place of the old one, through a temporary file beside it."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dst, open(path, "rb") as src:
            _copy(src, dst, where.start)
            dst.write(moov)
            src.seek(where.start + where.size)
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _copy(src, dst, n: int) -> None:
    """Copy the next ``n`` bytes of ``src`` to ``dst`` in 1 MiB pieces."""
    while n > 0:
        piece = src.read(min(n, 1 << 20))
        if not piece:
            raise ValueError(f"{src.name}: the file ended before byte {n}")
        dst.write(piece)
        n -= len(piece)


def main(argv: list[str] | None = None) -> int:
    """Print each audio track's SA3D tag; exit status 1 when a file has no tagged audio track or is unreadable."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m stereosync.spatial.sa3d", description="Print the SA3D (ambisonic) tag of each audio track."
    )
    parser.add_argument("files", nargs="+", help="mp4 or mov files")
    status = 0
    for name in parser.parse_args(argv).files:
        try:
            tags = read_sa3d(name)
        except (OSError, ValueError) as err:
            print(f"{name}: {err}", file=sys.stderr)
            status = 1
            continue
        for i, tag in enumerate(tags, start=1):
            print(f"{name}: audio track {i}: {tag.describe() if tag else 'no SA3D box (not tagged as ambisonic)'}")
        if not tags:
            print(f"{name}: no audio track")
        status = status if any(tags) else 1
    return status


if __name__ == "__main__":
    sys.exit(main())
