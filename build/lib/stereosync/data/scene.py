"""Scene model of the synthetic spatial benchmark: camera, walking paths and footstep sounds.

The benchmark: docs/data.md#synthetic-scenes.

Geometry: a pinhole camera looks at a flat floor. A character at distance ``d`` (metres) stands with its feet
on image row ``HORIZON_Y + (NEAR_FOOT_Y - HORIZON_Y) * DIST_NEAR / d`` and has a size ``DIST_NEAR / d`` times
its size at the nearest distance, so farther = higher in frame and smaller. Horizontal positions are the box
centre ``x`` in normalised image coordinates (0 = left edge, 1 = right edge).

Paths are chosen so that a sound mixed to the centre is a bad guess: characters stand, walk in depth and
along their side mostly off-centre (``|x - 0.5| >= EDGE_MIN``), and cross the middle quickly (jogging).
Footsteps are panned with the constant-power law (L = cos θ, R = sin θ, θ = x π / 2) and attenuated with
the inverse-distance law (gain ``DIST_NEAR / d``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt

HORIZON_Y = 0.38  # horizon row, fraction of frame height
NEAR_FOOT_Y = 0.96  # foot row of a character at DIST_NEAR
DIST_NEAR, DIST_FAR, DIST_WALL = 2.0, 6.0, 9.0  # metres: walkable range and the back wall
BODY_HEIGHT, BODY_WIDTH = 0.62, 0.11  # box size at DIST_NEAR, fraction of frame height / width
FRAME_WIDTH_PER_M = 1.68  # metres of floor across the frame per metre of distance (80° field of view)
EDGE_MIN, EDGE_MAX = 0.25, 0.44  # off-centre band of |x - 0.5| where characters stand and walk

ACTIONS = ("depth", "along", "cross", "pause", "turn")
ACTION_P = (0.41, 0.2, 0.13, 0.16, 0.1)

# Footstep materials. noise: band (Hz) and decay (s) of a filtered noise burst; grains: micro-bursts spread
# over `spread` s (crunch); modes: (Hz, decay s, amplitude) damped sinusoids (tonal knock); attack in s.
MATERIALS: dict[str, dict] = {
    "gravel": dict(band=(900, 5000), decay=0.05, grains=6, spread=0.05, modes=(), attack=0.002),
    "wood": dict(
        band=(1500, 8000),
        decay=0.01,
        grains=1,
        spread=0.0,
        modes=((160, 0.05, 1.0), (390, 0.035, 0.6), (870, 0.02, 0.3)),
        attack=0.001,
    ),
    "tile": dict(
        band=(2500, 12000),
        decay=0.008,
        grains=1,
        spread=0.0,
        modes=((1150, 0.04, 0.5), (2630, 0.03, 0.35)),
        attack=0.0005,
    ),
    "carpet": dict(band=(80, 900), decay=0.06, grains=2, spread=0.02, modes=(), attack=0.008),
    "metal": dict(
        band=(2000, 9000),
        decay=0.006,
        grains=1,
        spread=0.0,
        modes=((430, 0.22, 0.6), (1170, 0.16, 0.5), (2390, 0.11, 0.4), (3710, 0.07, 0.3)),
        attack=0.001,
    ),
    "snow": dict(band=(600, 3500), decay=0.08, grains=10, spread=0.09, modes=(), attack=0.015),
}


def scale_at(d: np.ndarray | float) -> np.ndarray | float:
    """Perspective scale (1 at DIST_NEAR) of something at distance ``d`` metres; also the distance gain."""
    return DIST_NEAR / np.asarray(d, dtype=np.float64)


def foot_row(d: np.ndarray | float) -> np.ndarray | float:
    """Normalised image row of the floor at distance ``d`` metres."""
    return HORIZON_Y + (NEAR_FOOT_Y - HORIZON_Y) * scale_at(d)


def nearness(d: np.ndarray | float) -> np.ndarray:
    """Ground-truth depth value in [0, 1] (near = 1): inverse distance between the bottom row and the wall."""
    d_bottom = DIST_NEAR * (NEAR_FOOT_Y - HORIZON_Y) / (1.0 - HORIZON_Y)
    near = (1.0 / np.asarray(d) - 1.0 / DIST_WALL) / (1.0 / d_bottom - 1.0 / DIST_WALL)
    return np.clip(near, 0.0, 1.0)


@dataclass
class Track:
    """One character's motion over the scene.

    Attributes:
        key_t: (P,) key times in s; position is linear between keys.
        key_x: (P,) box-centre x at the keys, normalised [0, 1].
        key_d: (P,) distance at the keys, metres.
        key_face: (P,) facing (+1 right, -1 left) from each key to the next.
        step_t: (M,) footstep times in s (sorted).
        step_accent: (M,) per-step loudness factor.
        material: footstep material name (key of ``MATERIALS``).
        level: character loudness (linear) before distance attenuation.
        colour: (3,) uint8 body colour.
    """

    key_t: np.ndarray
    key_x: np.ndarray
    key_d: np.ndarray
    key_face: np.ndarray
    step_t: np.ndarray
    step_accent: np.ndarray
    material: str
    level: float
    colour: np.ndarray

    def position(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Box-centre x (normalised) and distance (m) at times ``t`` (s)."""
        return np.interp(t, self.key_t, self.key_x), np.interp(t, self.key_t, self.key_d)

    def facing(self, t: np.ndarray) -> np.ndarray:
        """Facing (+1 right, -1 left) at times ``t`` (s)."""
        idx = np.clip(np.searchsorted(self.key_t, t, side="right") - 1, 0, len(self.key_t) - 1)
        return self.key_face[idx]

    def box(self, t: np.ndarray) -> np.ndarray:
        """(len(t), 4) box [x0, y0, x1, y1] normalised to [0, 1] at times ``t`` (s)."""
        x, d = self.position(t)
        s, y1 = scale_at(d), foot_row(d)
        half_w = 0.5 * BODY_WIDTH * s
        box = np.stack([x - half_w, y1 - BODY_HEIGHT * s, x + half_w, y1], axis=-1)
        return np.clip(box, 0.0, 1.0)


def _edge_x(rng: np.random.Generator, side: int) -> float:
    return 0.5 + side * rng.uniform(EDGE_MIN, EDGE_MAX)


def _move(rng: np.random.Generator, kind: str, x: float, d: float, side: int) -> tuple[float, float, int, bool]:
    """Target (x, d), side and whether it is a jog, for one move action."""
    if kind == "depth":
        d1 = rng.uniform(DIST_NEAR, DIST_FAR)
        while abs(d1 - d) < 1.0:
            d1 = rng.uniform(DIST_NEAR, DIST_FAR)
        x1 = 0.5 + side * np.clip(abs(x - 0.5) + rng.normal(0, 0.03), EDGE_MIN, EDGE_MAX)
        return x1, d1, side, False
    d1 = float(np.clip(d + rng.normal(0, 0.6), DIST_NEAR, DIST_FAR))
    if kind == "cross":
        return _edge_x(rng, -side), d1, -side, True
    return _edge_x(rng, side), d1, side, False


def make_track(rng: np.random.Generator, duration: float, side: int, material: str, level: float) -> Track:
    """Random path and footsteps of one character, starting on ``side`` (-1 left, +1 right) of the frame.

    Args:
        rng: random generator (the scene's, so the track is deterministic from the scene seed).
        duration: scene length in s; the path covers it fully.
        side: starting half of the frame.
        material: footstep material.
        level: loudness factor of the character.
    """
    t, x, d, face = 0.0, _edge_x(rng, side), rng.uniform(DIST_NEAR, DIST_FAR), -side
    keys, steps, accents = [(t, x, d, face)], [], []
    t = rng.uniform(0.0, 0.5)  # standing still at first
    keys.append((t, x, d, face))
    while t < duration:
        kind = ACTIONS[rng.choice(len(ACTIONS), p=ACTION_P)]
        if kind in ("pause", "turn"):
            dt = rng.uniform(0.3, 1.0) if kind == "pause" else rng.uniform(0.3, 0.6)
            if kind == "turn":  # a shuffle step while turning round
                face = -face
                steps.append(t + 0.5 * dt)
                accents.append(rng.uniform(0.4, 0.7))
            t += dt
            keys.append((t, x, d, face))
            continue
        x1, d1, side, jog = _move(rng, kind, x, d, side)
        metres = np.hypot(abs(x1 - x) * FRAME_WIDTH_PER_M * 0.5 * (d + d1), d1 - d)
        dt = max(metres / (rng.uniform(2.4, 3.4) if jog else rng.uniform(1.0, 1.6)), 0.4)
        cadence = rng.uniform(2.6, 3.2) if jog else rng.uniform(1.6, 2.2)  # steps per second
        n = max(1, int(round(dt * cadence)))
        steps.extend(t + (np.arange(n) + 0.5) * dt / n)
        accents.extend(rng.uniform(0.75, 1.25, n) * (1.2 if jog else 1.0))
        if abs(x1 - x) > 0.02:
            face = 1 if x1 > x else -1
        keys[-1] = (keys[-1][0], x, d, face)  # face the direction of travel from the start of the move
        t, x, d = t + dt, x1, d1
        keys.append((t, x, d, face))
    kt, kx, kd, kf = (np.array(v) for v in zip(*keys))
    step_t = np.array(steps, dtype=np.float64)
    keep = step_t < duration
    colour = rng.integers(40, 230, 3).astype(np.uint8)
    return Track(kt, kx, kd, kf.astype(np.int8), step_t[keep], np.array(accents)[keep], material, level, colour)


def footstep(rng: np.random.Generator, material: str, sample_rate: int) -> np.ndarray:
    """One footstep (heel then toe) of a material, peak-normalised mono waveform ``(L,)`` float64."""
    p = MATERIALS[material]
    longest = max([p["decay"] + p["spread"]] + [m[1] for m in p["modes"]])
    n = int(sample_rate * (0.07 + 6 * longest))
    t = np.arange(n) / sample_rate
    noise, tonal = np.zeros(n), np.zeros(n)
    for onset, gain in ((0.0, 1.0), (rng.uniform(0.03, 0.07), rng.uniform(0.3, 0.6))):  # heel, toe
        for _ in range(p["grains"]):
            t0 = onset + rng.uniform(0.0, p["spread"])
            tau = np.clip(t - t0, 0.0, None)
            env = (t >= t0) * np.minimum(tau / p["attack"], 1.0) * np.exp(-tau / p["decay"])
            noise += gain * rng.uniform(0.5, 1.0) * env * rng.standard_normal(n)
        tau = np.clip(t - onset, 0.0, None)
        for f, tau_m, amp in p["modes"]:
            f_j = f * rng.uniform(0.95, 1.05)
            tonal += (t >= onset) * gain * amp * np.exp(-tau / tau_m) * np.sin(2 * np.pi * f_j * tau)
    lo, hi = (f * rng.uniform(0.85, 1.15) for f in p["band"])
    sos = butter(2, [lo, min(hi, 0.45 * sample_rate)], btype="bandpass", fs=sample_rate, output="sos")
    noise = sosfilt(sos, noise)
    click = 0.5 if p["modes"] else 1.0  # tonal materials: the knock dominates the contact noise
    out = click * noise / (np.abs(noise).max() + 1e-12) + tonal / (np.abs(tonal).max() + 1e-12)
    return out / np.abs(out).max()


def pan_gains(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Constant-power panning gains (L = cos θ, R = sin θ, θ = x π / 2) for box centres x in [0, 1]."""
    theta = np.clip(x, 0.0, 1.0) * np.pi / 2
    return np.cos(theta), np.sin(theta)


def render_steps(
    rng: np.random.Generator,
    tracks: list[Track],
    num_samples: int,
    sample_rate: int,
    on_step: Callable[[int, float, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Mix every character's footsteps, panned by box centre and attenuated by distance: ``(2, S)`` float64.

    Args:
        rng: the scene's audio generator (footstep waveforms).
        tracks: the characters.
        num_samples: S.
        sample_rate: Hz.
        on_step: called as ``on_step(start sample, box-centre x, waveform with its level)`` for every step
            before panning, for renders of the same sources in other formats (draws nothing from ``rng``).
    """
    audio = np.zeros((2, num_samples))
    for track in tracks:
        x, d = track.position(track.step_t)
        gl, gr = pan_gains(x)
        gain = track.level * track.step_accent * scale_at(d)
        for t0, g, a, b, xs in zip(track.step_t, gain, gl, gr, x):
            wave = footstep(rng, track.material, sample_rate)
            i0 = int(round(t0 * sample_rate))
            seg = wave[: num_samples - i0]
            audio[0, i0 : i0 + len(seg)] += g * a * seg
            audio[1, i0 : i0 + len(seg)] += g * b * seg
            if on_step is not None:
                on_step(i0, float(xs), g * seg)
    return audio


def ambience(rng: np.random.Generator, num_samples: int, sample_rate: int, rms: float) -> np.ndarray:
    """Diffuse room tone: independent pink-ish, low-passed noise per channel at ``rms``: ``(2, S)`` float64."""
    spec = np.fft.rfft(rng.standard_normal((2, num_samples)), axis=-1)
    f = np.fft.rfftfreq(num_samples, 1.0 / sample_rate)
    shape = 1.0 / np.sqrt(np.maximum(f, 20.0)) / (1.0 + (f / rng.uniform(2000, 6000)) ** 2)
    noise = np.fft.irfft(spec * shape, n=num_samples, axis=-1)
    return noise * (rms / (noise.std() + 1e-12))
