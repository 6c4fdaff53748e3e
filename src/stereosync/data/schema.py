"""The shard schema: one definition of every member of a StereoSync sample (docs/design.md, "Shards").

A sample is one chunk of video (2 s by default). The writer (synthetic generator, feature extraction),
the DataModule and the tests all import this module, so names, dtypes and shapes live here only.

Members are ``.npy`` arrays plus one ``.json``; nothing is ever unpickled: ``decode_member`` calls
``np.load(..., allow_pickle=False)`` and refuses any other extension (``.pth``, ``.pkl``, ``.pyd`` ...).

Shapes are symbolic. A symbol is either fixed by the sample's own metadata (``S`` = samples per chunk,
``FD`` = depth frames, ``FB`` = box frames) or free but shared (``K`` tracked objects must agree between
``boxes`` and ``box_mask``). ``validate`` checks all of it and raises :class:`SchemaError` naming the
shard, the sample key, the member and the mismatch.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
"""Version 2 adds ``motion`` and silent samples (``has_audio: false``); version 3 adds the synthetic scenes'
ground truth for timing and 3-D sound: ``events`` (every footstep's onset and character), ``binaural`` (a
head-related render) and ``foa`` (first-order ambisonics). Version-1 and -2 shards still load."""

# Defaults of the paper's setup.
SAMPLE_RATE = 44100
CHUNK_SECONDS = 2.0
DEPTH_FPS = 4
BOX_FPS = 30
CLAP_DIM = 512
AUDIO_CHANNELS = 2


class SchemaError(ValueError):
    """A sample does not match the schema. The message names shard, key, member and problem."""

    def __init__(
        self,
        problem: str,
        *,
        shard: str | None = None,
        key: str | None = None,
        member: str | None = None,
        reason: str = "invalid",
    ):
        self.shard, self.key, self.member, self.reason = shard, key, member, reason
        where = f"shard {shard or '?'}, sample {key or '?'}"
        if member:
            where += f", member '{member}'"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Member:
    """One array member of a sample.

    Attributes:
        name: member name; stored in the tar as ``<key>.<name>.npy``.
        dtype: numpy dtype kind accepted (``"f"`` float, ``"b"`` bool).
        shape: symbolic shape; ints are fixed, strings are symbols shared across members.
        doc: what it holds, with units.
    """

    name: str
    dtype: str
    shape: tuple[int | str, ...]
    doc: str

    @property
    def filename(self) -> str:
        return f"{self.name}.npy"


MEMBERS: dict[str, Member] = {
    m.name: m
    for m in [
        Member("audio", "f", (AUDIO_CHANNELS, "S"), "stereo waveform in [-1, 1], (2, S) at json sample_rate"),
        Member("latent", "f", ("CL", "L"), "precomputed latent of `audio` (pretransform output, unscaled)"),
        Member("envelope", "f", ("CE", "S"), "RMS envelope (stereosync.envelope), linear amplitude, audio rate"),
        Member("envelope_latent", "f", ("CL", "L"), "precomputed latent of `envelope` (unscaled): ControlNet input"),
        Member("depth", "f", ("FD", "H", "W"), "depth maps at depth_fps, normalised to [0, 1] (near = 1)"),
        Member("depth_emb", "f", ("FD", "D"), "per-depth-frame image-encoder embedding"),
        Member("boxes", "f", ("FB", "K", 4), "[x0, y0, x1, y1] per box frame and object, normalised to [0, 1]"),
        Member("box_mask", "b", ("FB", "K"), "True where the object is detected in that frame"),
        Member("clap", "f", (CLAP_DIM,), "LAION-CLAP audio embedding of the chunk (mono, 48 kHz input)"),
        Member("motion", "f", ("FB", "M"), "visual timing features per box frame (stereosync.motion), version 2"),
        Member(
            "events",
            "f",
            ("E", 2),
            "[onset in s from the chunk's start, object index k] per sound event (footstep), version 3",
        ),
        Member(
            "binaural", "f", (AUDIO_CHANNELS, "S"), "binaural (HRTF) render of the chunk, [left, right] ears, version 3"
        ),
        Member("foa", "f", (4, "S"), "first-order ambisonics of the chunk, ambiX (ACN order W Y Z X, SN3D), version 3"),
    ]
}

REQUIRED = ("boxes", "box_mask")
"""Members every sample has; plus ``clap`` and ``audio`` or ``latent`` unless the json says ``has_audio: false``
(a chunk of a silent video), and ``depth`` or ``depth_emb``."""
AUDIO_DERIVED = ("audio", "latent", "envelope", "envelope_latent", "clap", "binaural", "foa")
"""Members computed from the chunk's own audio: a silent sample has none of them."""


def has_audio(meta: Mapping[str, Any]) -> bool:
    """Whether a sample comes with its own audio (``has_audio`` in the json; version-1 samples always do)."""
    return bool(meta.get("has_audio", True))


def require_motion(sample: Mapping[str, Any] | None, reader: str) -> None:
    """Refuse a peeked sample without ``motion`` (a shard older than schema version 2), naming its shard, its key
    and ``reader`` (what reads the member). ``None`` (no sample to peek) passes."""
    if sample is not None and "motion" not in sample:
        raise ValueError(
            f"shard {sample.get('__url__')}, sample {sample.get('__key__')}: no 'motion' member (schema version "
            f"{sample['json'].get('schema_version')}), which {reader} reads: re-extract the videos (or regenerate "
            f"the synthetic scenes) with this version"
        )


JSON_FIELDS = ("schema_version", "source", "start", "duration", "sample_rate", "depth_fps", "box_fps")
FORBIDDEN_EXTENSIONS = (".pth", ".pt", ".pkl", ".pickle", ".pyd", ".ckpt", ".bin", ".npz")


def frame_counts(meta: Mapping[str, Any]) -> dict[str, int]:
    """The fixed symbols of a sample, derived from its json metadata.

    Args:
        meta: the sample's json (``duration`` in s, ``sample_rate`` in Hz, fps values).

    Returns:
        ``{"S": samples, "FD": depth frames, "FB": box frames}``.
    """
    dur = float(meta["duration"])
    return {
        "S": int(round(dur * int(meta["sample_rate"]))),
        "FD": int(round(dur * float(meta["depth_fps"]))),
        "FB": int(round(dur * float(meta["box_fps"]))),
    }


def make_meta(
    source: str,
    start: float,
    *,
    duration: float = CHUNK_SECONDS,
    sample_rate: int = SAMPLE_RATE,
    depth_fps: float = DEPTH_FPS,
    box_fps: float = BOX_FPS,
    **extra: Any,
) -> dict[str, Any]:
    """Build a sample's json metadata with every required field.

    Args:
        source: the source video (path or id).
        start: chunk start within the source, in seconds.
        duration: chunk length in seconds.
        sample_rate: audio rate in Hz.
        depth_fps: depth frame rate.
        box_fps: box frame rate.
        **extra: further fields (e.g. ``scene_seed``, ``latent_scale``).
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "source": str(source),
        "start": float(start),
        "duration": float(duration),
        "sample_rate": int(sample_rate),
        "depth_fps": depth_fps,
        "box_fps": box_fps,
        **extra,
    }


def validate(sample: Mapping[str, Any], *, shard: str | None = None, key: str | None = None) -> None:
    """Check a decoded sample against the schema.

    Args:
        sample: ``{"json": dict, member name: np.ndarray, ...}``.
        shard: shard path/url, for the error message.
        key: sample key, for the error message.

    Raises:
        SchemaError: naming shard, key, member and the mismatch; ``reason`` is one of
            ``missing``, ``version``, ``dtype``, ``shape``, ``nonfinite``, ``range``.
    """
    key = key or sample.get("__key__")
    shard = shard or sample.get("__url__")

    def fail(problem: str, member: str | None, reason: str) -> None:
        raise SchemaError(problem, shard=shard, key=key, member=member, reason=reason)

    meta = sample.get("json")
    if not isinstance(meta, Mapping):
        fail("missing json metadata", "json", "missing")
    missing = [f for f in JSON_FIELDS if f not in meta]
    if missing:
        fail(f"json lacks fields {missing}", "json", "missing")
    if meta["schema_version"] not in READABLE_VERSIONS:
        fail(
            f"schema_version {meta['schema_version']!r} is not supported (this code reads {READABLE_VERSIONS})",
            "json",
            "version",
        )
    for name in REQUIRED:
        if name not in sample:
            fail("required member is missing", name, "missing")
    if has_audio(meta):
        if "clap" not in sample:
            fail("required member is missing", "clap", "missing")
        if "audio" not in sample and "latent" not in sample:
            fail("needs 'audio' or 'latent'", "audio", "missing")
    else:
        present = [m for m in AUDIO_DERIVED if m in sample]
        if present:
            fail(f"json says has_audio: false but the sample carries {present}", present[0], "invalid")
    if "depth" not in sample and "depth_emb" not in sample:
        fail("needs 'depth' or 'depth_emb'", "depth", "missing")

    symbols: dict[str, int] = dict(frame_counts(meta))
    for name, spec in MEMBERS.items():
        if name not in sample:
            continue
        arr = sample[name]
        if not isinstance(arr, np.ndarray):
            fail(f"expected a numpy array, got {type(arr).__name__}", name, "dtype")
        if arr.dtype.kind != spec.dtype:
            fail(f"dtype {arr.dtype} does not match the schema kind '{spec.dtype}'", name, "dtype")
        if arr.ndim != len(spec.shape):
            fail(f"shape {arr.shape} has {arr.ndim} dims, schema {spec.shape} has {len(spec.shape)}", name, "shape")
        for dim, want in zip(arr.shape, spec.shape):
            if isinstance(want, str):
                want = symbols.setdefault(want, dim)
            if dim != want:
                fail(
                    f"shape {arr.shape} does not match schema {spec.shape} (resolved {want} for that axis, "
                    f"from {_symbol_origin(spec, symbols)})",
                    name,
                    "shape",
                )
        if spec.dtype == "f" and not np.isfinite(arr).all():
            fail(f"{int((~np.isfinite(arr)).sum())} non-finite values", name, "nonfinite")
    boxes = sample["boxes"]
    if boxes[sample["box_mask"]].size and (
        boxes[sample["box_mask"]].min() < -1e-3 or boxes[sample["box_mask"]].max() > 1 + 1e-3
    ):
        fail("present boxes must be normalised to [0, 1]", "boxes", "range")


def _symbol_origin(spec: Member, symbols: Mapping[str, int]) -> str:
    known = {s: symbols[s] for s in spec.shape if isinstance(s, str) and s in symbols}
    return f"json metadata and earlier members: {known}"


def encode_sample(sample: Mapping[str, Any]) -> dict[str, bytes]:
    """Serialise a sample to tar members: ``{"__key__": key, "audio.npy": bytes, ..., "json": bytes}``."""
    out: dict[str, Any] = {"__key__": sample["__key__"]}
    for name, value in sample.items():
        if name.startswith("__"):
            continue
        if name == "json":
            out["json"] = json.dumps(value, sort_keys=True).encode()
        elif name in MEMBERS:
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(value), allow_pickle=False)
            out[MEMBERS[name].filename] = buf.getvalue()
        else:
            raise SchemaError(
                f"unknown member '{name}' (schema members: {sorted(MEMBERS)})",
                key=sample["__key__"],
                member=name,
                reason="unknown",
            )
    return out


def decode_member(ext: str, data: bytes, *, shard: str | None = None, key: str | None = None) -> Any:
    """Decode one tar member by its extension; refuses anything that could unpickle.

    Args:
        ext: member extension, e.g. ``"audio.npy"`` or ``"json"``.
        data: raw bytes.
        shard: shard path, for errors.
        key: sample key, for errors.

    Returns:
        ``(name, value)``: the member name (``"audio"``, ``"json"``) and its decoded value.
    """
    lower = ext.lower()
    if any(lower.endswith(bad) for bad in FORBIDDEN_EXTENSIONS):
        raise SchemaError(
            f"member '{ext}' has a pickle-capable format; refused without loading",
            shard=shard,
            key=key,
            member=ext,
            reason="forbidden",
        )
    if lower == "json":
        try:
            return "json", json.loads(data)
        except ValueError as err:
            raise SchemaError(
                f"json does not parse: {err}", shard=shard, key=key, member="json", reason="corrupt"
            ) from err
    if lower.endswith(".npy"):
        name = ext[: -len(".npy")]
        try:
            return name, np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise SchemaError(f"npy does not load: {err}", shard=shard, key=key, member=name, reason="corrupt") from err
    raise SchemaError(
        f"member '{ext}' is not part of the schema (only .npy and .json)",
        shard=shard,
        key=key,
        member=ext,
        reason="unknown",
    )


def expected_latent_frames(num_samples: int, downsampling_ratio: int) -> int:
    """Latent frames for ``num_samples`` after padding to a multiple of the pretransform's ratio."""
    return math.ceil(num_samples / downsampling_ratio)
