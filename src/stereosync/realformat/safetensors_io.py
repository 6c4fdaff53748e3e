"""Safetensors without loading: write a state dict tensor by tensor, read a file's header, check its length.

The format (https://github.com/huggingface/safetensors#format): an 8-byte little-endian header length N, N bytes
of JSON (``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, offsets relative to
the end of the header), then the tensor bytes. Writing tensor by tensor keeps one copy of a 5-GB model in memory
(``safetensors.torch.save_file`` needs a second, contiguous one); reading the header alone checks every key,
shape and dtype of a 5-GB file in milliseconds.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
"""torch dtype → safetensors dtype name."""
_ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}

_MAX_HEADER = 100_000_000  # the reference implementation's limit: a larger length means a corrupt file


class SafetensorsError(ValueError):
    """A file that is not a complete safetensors file; the message names the file and what is wrong."""


@dataclass(frozen=True)
class TensorInfo:
    """One entry of a safetensors header.

    Attributes:
        dtype: safetensors dtype name (``"F32"``, ``"BF16"`` ...).
        shape: tensor shape.
        begin: first byte, relative to the end of the header.
        end: one past the last byte.
    """

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def write_streaming(
    path: str | os.PathLike,
    tensors: Iterable[tuple[str, torch.Tensor]] | Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    spec: Mapping[str, tuple[tuple[int, ...], str]] | None = None,
) -> int:
    """Write tensors to a safetensors file one at a time; the file appears only when complete.

    Args:
        path: output file; written as ``<path>.partial`` and renamed at the end, so a killed run leaves no
            file that looks finished.
        tensors: ``(name, tensor)`` pairs or a mapping, on the CPU. With ``spec`` this may be a generator that
            makes each tensor when asked, so only one tensor (or the module that makes it) is ever in memory.
        metadata: string pairs stored under ``__metadata__`` (default ``{"format": "pt"}``, as
            ``safetensors.torch`` writes).
        spec: name → (shape, safetensors dtype) of every tensor, in the order ``tensors`` yields them: the
            header is written from it before the first tensor exists. Each tensor is checked against it.

    Returns:
        The file size in bytes.

    Raises:
        ValueError: a yielded tensor does not match ``spec`` (name, shape or dtype), or ``tensors`` ends early.
    """
    if isinstance(tensors, Mapping):
        tensors = list(tensors.items())
    if spec is None:
        tensors = list(tensors)
        spec = {name: (tuple(t.shape), DTYPES[t.dtype]) for name, t in tensors}
    raw = _header_bytes(spec, metadata)
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        _write_tensors(f, tensors, spec)
    os.replace(partial, path)
    return path.stat().st_size


def _header_bytes(spec: Mapping[str, tuple[tuple[int, ...], str]], metadata: Mapping[str, str] | None) -> bytes:
    """The JSON header of ``spec``'s tensors laid end to end, padded to 8 bytes with spaces as the reference
    writer pads it."""
    header: dict[str, object] = {"__metadata__": dict(metadata or {"format": "pt"})}
    offset = 0
    for name, (shape, dtype) in spec.items():
        size = _numel(shape) * _ITEMSIZE[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    return raw + b" " * (-len(raw) % 8)


def _write_tensors(f, tensors: Iterable[tuple[str, torch.Tensor]], spec: Mapping) -> None:
    expected = iter(spec.items())
    for name, t in tensors:
        want, (shape, dtype) = next(expected, (None, ((), "")))
        if (name, tuple(t.shape), DTYPES[t.dtype]) != (want, tuple(shape), dtype):
            raise ValueError(f"tensor {name} {tuple(t.shape)} {t.dtype} does not match the header's {want} {shape}")
        # uint8 view: numpy has no bfloat16, and bytes are what the file holds
        f.write(t.detach().contiguous().view(-1).view(torch.uint8).numpy().data)
    missing = [name for name, _ in expected]
    if missing:
        raise ValueError(f"{len(missing)} tensors of the header were never given, e.g. {missing[:3]}")


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def read_header(path: str | os.PathLike) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Read a safetensors file's header and check the file is as long as the header says.

    Args:
        path: the file.

    Returns:
        ``(tensors, metadata)``: name → :class:`TensorInfo`, and the ``__metadata__`` strings.

    Raises:
        SafetensorsError: the header is unreadable, or the file is shorter (truncated download) or longer than
            its header says; the message gives both lengths.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsError(f"{path}: {size} bytes, too short for a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if n > min(_MAX_HEADER, size - 8):
            raise SafetensorsError(f"{path}: header length {n} exceeds the file ({size} bytes): truncated or corrupt")
        try:
            header = json.loads(f.read(n))
        except ValueError as err:
            raise SafetensorsError(f"{path}: header is not valid JSON ({err})") from err
    metadata = header.pop("__metadata__", None) or {}
    tensors = {
        k: TensorInfo(v["dtype"], tuple(v["shape"]), int(v["data_offsets"][0]), int(v["data_offsets"][1]))
        for k, v in header.items()
    }
    expected = 8 + n + max((t.end for t in tensors.values()), default=0)
    if size != expected:
        what = "truncated (an interrupted download?)" if size < expected else "longer than its header says"
        raise SafetensorsError(f"{path}: {size:,} bytes, the header describes {expected:,}: {what}")
    return tensors, metadata


def is_complete(path: str | os.PathLike) -> bool:
    """Whether ``path`` exists and is a whole safetensors file (header readable, length exact)."""
    try:
        read_header(path)
    except (OSError, SafetensorsError):
        return False
    return True
