"""Onset timing: onsets of audio or of an envelope, and the F1 of estimated against reference onsets.

- :func:`audio_onsets`: ``librosa.onset.onset_detect`` on the mono mix (22.05 kHz, librosa's defaults), in s.
- :func:`envelope_onsets`: peaks of an envelope's rate of rise — local maxima of the positive first
  difference within ±``window`` s that exceed ``threshold`` × its maximum — in s. For a causal RMS envelope
  the rise starts at the onset, so the same picking on a predicted and a reference envelope compares timing.
- :func:`onset_f1`: one-to-one matching in time order, an estimate matching the first unused reference onset
  within ±``tolerance`` (50 ms by default, as in MIREX onset evaluation); F1 = 2·matches / (|est| + |ref|).
  Two empty lists score 1, one empty list 0.
"""

from __future__ import annotations

import numpy as np


def audio_onsets(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset times (s) of a (C, T) or (T,) waveform."""
    import librosa

    y = np.asarray(audio, np.float32)
    y = y.mean(0) if y.ndim == 2 else y
    if sample_rate != 22050:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=22050)
    return np.asarray(librosa.onset.onset_detect(y=y, sr=22050, units="time"), np.float64)


def envelope_onsets(envelope: np.ndarray, rate: float, window: float = 0.05, threshold: float = 0.1) -> np.ndarray:
    """Onset times (s) of an envelope sampled at ``rate`` Hz ((T,), or (C, T) averaged over channels)."""
    env = np.asarray(envelope, np.float64)
    env = env.mean(0) if env.ndim == 2 else env
    if env.size < 3:
        return np.zeros(0)
    hop = max(1, int(round(rate / 200)))  # pick on a ≤ 200 Hz grid
    env = env[: env.size // hop * hop].reshape(-1, hop).mean(1)
    r = rate / hop
    rise = np.maximum(np.diff(env, prepend=env[0]), 0.0)
    top = rise.max()
    if top <= 0:
        return np.zeros(0)
    w = max(1, int(round(window * r)))
    padded = np.pad(rise, w, constant_values=-np.inf)
    local = np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1).max(1)
    peaks = np.flatnonzero((rise >= local) & (rise > threshold * top))
    keep: list[int] = []
    for p in peaks:  # a plateau of equal maxima counts once
        if not keep or p - keep[-1] > w:
            keep.append(int(p))
    return np.asarray(keep, np.float64) / r


def onset_matches(estimated: np.ndarray, reference: np.ndarray, tolerance: float = 0.05) -> int:
    """One-to-one matches of estimated to reference onsets within ±``tolerance`` s."""
    est, ref = np.sort(np.asarray(estimated, float)), np.sort(np.asarray(reference, float))
    used = np.zeros(len(ref), bool)
    n = 0
    for t in est:
        free = np.flatnonzero(~used & (np.abs(ref - t) <= tolerance))
        if free.size:
            used[free[0]] = True
            n += 1
    return n


def onset_f1(estimated: np.ndarray, reference: np.ndarray, tolerance: float = 0.05) -> float:
    """F1 of estimated against reference onset times (s)."""
    ne, nr = len(estimated), len(reference)
    if ne == 0 and nr == 0:
        return 1.0
    if ne == 0 or nr == 0:
        return 0.0
    return 2.0 * onset_matches(estimated, reference, tolerance) / (ne + nr)
