"""Write first-order ambisonics as an ambiX WAV file.

ambiX (Nachbar et al., 2011) stores the components in ACN order (W, Y, Z, X) with SN3D normalisation. The file
is a WAVE_FORMAT_EXTENSIBLE WAV with a channel mask of 0, the standard way to say that the channels feed no
loudspeakers (they are sound-field components), and an INFO comment (``ICMT``) naming the layout, which
libsndfile, ffmpeg and most editors show. The same four channels go into an mp4/mov track tagged by an SA3D box
(:mod:`stereosync.spatial.sa3d`, used by :func:`stereosync.output_video.write_output`).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Literal

import numpy as np

AMBIX_COMMENT = "ambiX: first-order ambisonics, ACN channel order W Y Z X, SN3D normalisation"
_GUID_TAIL = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # KSDATAFORMAT_SUBTYPE_* suffix
_FORMATS = {"PCM_16": (1, 16, "<i2"), "PCM_24": (1, 24, None), "FLOAT": (3, 32, "<f4")}


def _samples(foa: np.ndarray, subtype: str) -> bytes:
    """Interleaved little-endian sample bytes of (4, T) audio in [-1, 1]."""
    x = np.clip(np.asarray(foa, dtype=np.float64).T, -1.0, 1.0)  # (T, 4), interleaved on flattening
    if subtype == "FLOAT":
        return x.astype("<f4").tobytes()
    bits = _FORMATS[subtype][1]
    ints = np.round(x * (2 ** (bits - 1) - 1)).astype("<i4")
    if bits == 16:
        return ints.astype("<i2").tobytes()
    return ints.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()  # 24-bit: the low three bytes of each int32


def _info_chunk(comment: str) -> bytes:
    text = comment.encode("ascii") + b"\x00"
    text += b"\x00" * (len(text) % 2)
    return b"LIST" + struct.pack("<I", 4 + 8 + len(text)) + b"INFO" + b"ICMT" + struct.pack("<I", len(text)) + text


def write_ambix_wav(
    path: str | os.PathLike,
    foa: np.ndarray,
    sample_rate: int,
    subtype: Literal["PCM_16", "PCM_24", "FLOAT"] = "PCM_24",
) -> Path:
    """Write an ambiX first-order ambisonics WAV (4 channels W, Y, Z, X; SN3D).

    Args:
        path: output file.
        foa: (4, T) float ambisonic signal in [-1, 1] (PCM subtypes clip beyond).
        sample_rate: Hz.
        subtype: sample format: 16- or 24-bit PCM, or 32-bit float.

    Returns:
        The path written.
    """
    foa = np.asarray(foa)
    if foa.ndim != 2 or foa.shape[0] != 4:
        raise ValueError(f"an ambiX first-order file needs (4, T) audio, got {foa.shape}")
    return _write(Path(path), [foa], foa.shape[1], sample_rate, subtype)


def ambix_from_wav(
    source: str | os.PathLike, path: str | os.PathLike, subtype: Literal["PCM_16", "PCM_24", "FLOAT"] = "PCM_24"
) -> Path:
    """Rewrite a plain 4-channel WAV (W, Y, Z, X; SN3D) as an ambiX file, reading it a second at a time (memory
    does not grow with the length)."""
    import soundfile

    with soundfile.SoundFile(str(source)) as src:
        if src.channels != 4:
            raise ValueError(f"{source}: an ambiX first-order file needs 4 channels, the file has {src.channels}")
        blocks = (block.T for block in src.blocks(blocksize=src.samplerate, dtype="float32", always_2d=True))
        return _write(Path(path), blocks, src.frames, src.samplerate, subtype)


def _write(path: Path, blocks, frames: int, sample_rate: int, subtype: str) -> Path:
    """The WAVE_FORMAT_EXTENSIBLE header for ``frames`` samples, then each (4, n) block of ``blocks``."""
    tag, bits, _ = _FORMATS[subtype]
    block = 4 * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE, 4, int(sample_rate), int(sample_rate) * block, block, bits)
    fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<I", tag) + _GUID_TAIL  # channel mask 0: no speakers
    size = frames * block
    head = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + _info_chunk(AMBIX_COMMENT)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", len(head) + 8 + size + size % 2) + head)
        fh.write(b"data" + struct.pack("<I", size))
        for part in blocks:
            fh.write(_samples(part, subtype))
        fh.write(b"\x00" * (size % 2))
    return path
