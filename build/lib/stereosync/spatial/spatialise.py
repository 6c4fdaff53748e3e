"""Two-stage 3-D audio: render generated stereo binaurally or as ambiX FOA along the tracked boxes.

The model generates stereo whose image follows the boxes. :func:`spatialise` re-renders it:

1. Downmix: per STFT bin, the phase of L + R and the power of L and R together (``|M|² = |L|² + |R|²``), so a
   constant-power pan at any position downmixes to the source itself, with no comb filtering or level dip.
2. Split into sources: every box slot k is a source at its box centre ``x_k(t)`` (nearest box frame to each
   STFT frame). Each time-frequency bin goes to the sources in proportion to how well its stereo pan
   ``p = atan2(|R|, |L|) / (π/2)`` matches each box centre: weight ``exp(-(p - x_k)² / (2 σ²))``,
   σ = 0.1 frame widths, normalised over the boxes present. Where no box is present, the bin goes to one free
   source at the frame's broadband pan. So two characters that step at once, on their own sides, each keep
   their own sound, and a sound the model panned between them is shared.
3. Render each source from its direction (the camera model of :mod:`.geometry`, 80° horizontal field of view,
   elevation 0): binaural through the KEMAR HRIRs (:mod:`.hrtf`), switched every video frame with 50 %
   overlapping Hann cross-fades; FOA by ambiX SN3D encoding gains interpolated per sample.

Where the output's peak would exceed 1 it is scaled down to peak 1 (a gain, never clipping), so it can be written
to a file as it is.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy.signal import istft, oaconvolve, stft

from stereosync.spatial.ambisonics import encode_gains
from stereosync.spatial.geometry import azimuth_from_x
from stereosync.spatial.hrtf import kemar

PAN_SIGMA = 0.1  # frame widths: how sharply a bin's stereo pan assigns it to the nearest box
STFT_SECONDS = 0.032

Format = Literal["stereo", "binaural", "foa"]


def spatialise(
    audio: np.ndarray,
    sample_rate: int,
    boxes: np.ndarray,
    box_mask: np.ndarray,
    box_fps: float = 30.0,
    fmt: Format = "binaural",
) -> np.ndarray:
    """Render stereo as binaural or first-order ambisonics along the boxes (see the module docstring).

    Args:
        audio: (2, T) float stereo [left, right] whose image follows the boxes (constant-power panning).
        sample_rate: Hz.
        boxes: (FB, K, 4) [x0, y0, x1, y1] normalised to [0, 1], at ``box_fps`` (frame i at i / box_fps s).
        box_mask: (FB, K) bool, True where the object is present.
        box_fps: frame rate of ``boxes``.
        fmt: ``"binaural"`` → (2, T) [left, right] ears; ``"foa"`` → (4, T) ambiX [W, Y, Z, X] (ACN/SN3D);
            ``"stereo"`` → the input, unchanged.

    Returns:
        (C, T) float32.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 2 or audio.shape[0] != 2:
        raise ValueError(f"spatialise needs stereo (2, T) audio, got {audio.shape}")
    if fmt == "stereo":
        return audio.astype(np.float32)
    if fmt not in ("binaural", "foa"):
        raise ValueError(f"fmt must be 'stereo', 'binaural' or 'foa', got {fmt!r}")
    sources, x, times = split_sources(audio, sample_rate, np.asarray(boxes), np.asarray(box_mask), box_fps)
    if fmt == "binaural":
        out = _render_binaural(sources, x, times, sample_rate, box_fps)
    else:
        out = _render_foa(sources, x, times, sample_rate)
    peak = float(np.abs(out).max())
    return (out / peak if peak > 1.0 else out).astype(np.float32)


def split_sources(
    audio: np.ndarray, sample_rate: int, boxes: np.ndarray, box_mask: np.ndarray, box_fps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Downmix and split stereo into one source per box slot plus a free one (steps 1 and 2).

    Returns:
        sources (K + 1, T) waveforms, positions x (K + 1, N) box-centre columns per STFT frame (the free
        source's: the frame's broadband pan), and the STFT frame times (N,) in s.
    """
    n_fft = 1 << int(round(math.log2(STFT_SECONDS * sample_rate)))
    hop = n_fft // 4
    n = audio.shape[-1]
    padded = np.pad(audio, ((0, 0), (0, max(0, n_fft - n))))  # a clip shorter than one window
    _, times, spec = stft(padded, fs=sample_rate, nperseg=n_fft, noverlap=n_fft - hop, boundary="even")
    left, right = spec[0], spec[1]  # (F, N)
    power = np.abs(left) ** 2 + np.abs(right) ** 2
    summed = left + right
    mid = np.where(np.abs(summed) > 1e-12, summed / np.maximum(np.abs(summed), 1e-12), 1.0) * np.sqrt(power)
    pan = np.arctan2(np.abs(right), np.abs(left)) / (math.pi / 2)  # (F, N)
    broadband = np.arctan2(np.sqrt((np.abs(right) ** 2).sum(0)), np.sqrt((np.abs(left) ** 2).sum(0))) / (math.pi / 2)
    x, present = _slot_positions(boxes, box_mask, box_fps, times, broadband)
    weight = np.exp(-((pan[None] - x[:, None]) ** 2) / (2 * PAN_SIGMA**2)) * present[:, None]  # (S, F, N)
    weight /= np.maximum(weight.sum(0, keepdims=True), 1e-30)
    _, sources = istft(weight * mid[None], fs=sample_rate, nperseg=n_fft, noverlap=n_fft - hop, boundary=True)
    sources = np.pad(sources, ((0, 0), (0, max(0, n - sources.shape[-1]))))[:, :n]
    return sources, x, times


def _slot_positions(
    boxes: np.ndarray, box_mask: np.ndarray, box_fps: float, times: np.ndarray, broadband: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Box-centre column and presence of each box slot, plus the free slot, at ``times`` (N,).

    Returns:
        x (K + 1, N) in frame widths, present (K + 1, N) bool; the free slot is present where no box is.
    """
    fb, k = box_mask.shape
    idx = np.floor(times * box_fps + 0.5).astype(int)
    inside = (idx >= 0) & (idx < fb)
    idx = np.clip(idx, 0, max(fb - 1, 0))
    if fb == 0:
        x_box, here = np.zeros((k, len(times))), np.zeros((k, len(times)), bool)
    else:
        x_box = (0.5 * (boxes[idx, :, 0] + boxes[idx, :, 2])).T
        here = (box_mask[idx].astype(bool) & inside[:, None]).T
    free = ~here.any(axis=0)
    return np.vstack([x_box, broadband[None]]), np.vstack([here, free[None]])


def _at(x: np.ndarray, times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Positions x (S, N) given at ``times`` (N,), read at times ``t`` (nearest STFT frame)."""
    idx = np.clip(np.searchsorted(times, t), 0, len(times) - 1)
    return x[:, idx]


def _render_binaural(
    sources: np.ndarray, x: np.ndarray, times: np.ndarray, sample_rate: int, box_fps: float
) -> np.ndarray:
    """Each source through the HRIRs at its direction, switched every video frame with Hann cross-fades."""
    hrtfs = kemar(sample_rate)
    n = sources.shape[-1]
    hop = max(1, int(round(sample_rate / box_fps)))
    window = np.hanning(2 * hop + 1)[:-1]  # periodic Hann: copies at a hop apart sum to 1
    starts = np.arange(-hop, n, hop)
    az = azimuth_from_x(_at(x, times, (starts + hop) / sample_rate))  # (S, B) direction at each block centre
    out = np.zeros((2, n + hrtfs.length + 2 * hop))
    for b, s0 in enumerate(starts):
        lo, hi = max(s0, 0), min(s0 + 2 * hop, n)
        block = sources[:, lo:hi] * window[lo - s0 : hi - s0]
        for s in np.flatnonzero(np.abs(block).max(axis=-1) > 0):
            ears = oaconvolve(block[s][None], hrtfs.hrir(float(az[s, b])), axes=-1)
            out[:, lo : lo + ears.shape[-1]] += ears
    return out[:, :n]


def _render_foa(sources: np.ndarray, x: np.ndarray, times: np.ndarray, sample_rate: int) -> np.ndarray:
    """Each source encoded as a plane wave from its direction; gains interpolated per sample."""
    t = np.arange(sources.shape[-1]) / sample_rate
    out = np.zeros((4, sources.shape[-1]))
    for s in range(sources.shape[0]):
        out += encode_gains(azimuth_from_x(np.interp(t, times, x[s]))).T * sources[s]
    return out
