"""Per-sample augmentation: random crop, polarity flip, peak normalisation.

Applied to one decoded sample (numpy arrays), consistently to audio, envelope and the time-aligned video
features: a crop moves all streams by the same time offset, on a grid where every stream has a frame boundary
(0.5 s for 4 fps depth and 30 fps boxes; finer grids are used when the rates allow).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

_TIME_AXIS = {"audio": -1, "envelope": -1, "depth": 0, "depth_emb": 0, "boxes": 0, "box_mask": 0, "motion": 0}
_TIME_AXIS.update(binaural=-1, foa=-1)
_RATE_KEY = {
    "audio": "sample_rate",
    "envelope": "sample_rate",
    "depth": "depth_fps",
    "depth_emb": "depth_fps",
    "boxes": "box_fps",
    "box_mask": "box_fps",
    "motion": "box_fps",
    "binaural": "sample_rate",
    "foa": "sample_rate",
}


def crop_grid(meta: dict[str, Any]) -> Fraction:
    """Smallest time step (s) at which audio, depth and box frames all have a boundary."""
    steps = [
        Fraction(1, int(meta["sample_rate"])),
        1 / Fraction(str(meta["depth_fps"])),
        1 / Fraction(str(meta["box_fps"])),
    ]
    grid = steps[0]
    for s in steps[1:]:
        grid = Fraction(math.lcm(grid.numerator, s.numerator), math.gcd(grid.denominator, s.denominator))
    return grid


def crop(sample: dict[str, Any], seconds: float, rng: np.random.Generator | None) -> dict[str, Any]:
    """Crop every time-aligned member to ``seconds``; random grid-aligned start with ``rng``, else start 0.

    ``latent`` members cannot be cropped consistently and are rejected when a crop is needed.
    """
    meta = sample["json"]
    duration = float(meta["duration"])
    if abs(duration - seconds) < 1e-9:
        return sample
    if seconds > duration:
        raise ValueError(f"sample {sample.get('__key__')}: chunk of {duration} s is shorter than the crop {seconds} s")
    if "latent" in sample or "envelope_latent" in sample:
        raise ValueError(
            f"sample {sample.get('__key__')}: cannot crop precomputed latents; write shards at "
            f"{seconds} s chunks or set chunk_seconds to {duration}"
        )
    grid = float(crop_grid(meta))
    slots = int(math.floor((duration - seconds) / grid + 1e-9))
    start = grid * (int(rng.integers(0, slots + 1)) if rng is not None else 0)
    out = dict(sample)
    for name, axis in _TIME_AXIS.items():
        if name not in sample:
            continue
        rate = float(meta[_RATE_KEY[name]])
        a, n = int(round(start * rate)), int(round(seconds * rate))
        out[name] = np.take(sample[name], np.arange(a, a + n), axis=axis)
    if "events" in sample:  # onsets are relative to the chunk start: keep those inside the crop, moved with it
        ev = sample["events"]
        inside = (ev[:, 0] >= start) & (ev[:, 0] < start + seconds)
        out["events"] = (ev[inside] - np.array([start, 0.0], ev.dtype)).astype(ev.dtype)
    out["json"] = dict(meta, start=float(meta["start"]) + start, duration=seconds)
    return out


def peak_normalise(sample: dict[str, Any], eps: float = 1e-8) -> dict[str, Any]:
    """Scale audio (and its envelope and 3-D renders, linear in amplitude) so the chunk's peak is 1."""
    if "audio" not in sample:
        return sample
    gain = 1.0 / max(float(np.abs(sample["audio"]).max()), eps)
    out = dict(sample, audio=(sample["audio"] * gain).astype(np.float32))
    for name in ("envelope", "binaural", "foa"):
        if name in sample:
            out[name] = (sample[name] * gain).astype(np.float32)
    return out


def select_target(sample: dict[str, Any], member: str) -> dict[str, Any]:
    """Make another audio member the training target: ``audio`` becomes ``member`` (e.g. ``binaural``).

    Runs after :func:`peak_normalise`, so the envelope keeps the stereo's scale; a target that peaks above 1
    (a binaural footstep close to one ear) is scaled down to peak 1, since generated audio is limited to [−1, 1].
    """
    if member == "audio":
        return sample
    if member not in sample:
        raise ValueError(
            f"sample {sample.get('__key__')} of {sample.get('__url__')}: no '{member}' member, which data.target="
            f"{member} trains on (synthetic shards carry it from schema version 3: regenerate them)"
        )
    if "latent" in sample:
        raise ValueError(
            f"sample {sample.get('__key__')}: its precomputed 'latent' encodes the stereo audio, not '{member}': "
            f"data.target={member} needs shards without latents"
        )
    target = np.asarray(sample[member], np.float32)
    target = target / max(1.0, float(np.abs(target).max()))
    return dict(sample, audio=target.astype(np.float32))


def polarity_flip(sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Invert the waveform with probability 1/2 (the envelope, an RMS, is unchanged)."""
    if "audio" not in sample or rng.random() >= 0.5:
        return sample
    return dict(sample, audio=-sample["audio"])
