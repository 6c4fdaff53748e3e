"""Head-related impulse responses (HRIRs) of the MIT KEMAR dummy head, for any direction, at any sample rate.

Data: the MIT Media Lab KEMAR measurements (Gardner and Martin, 1994; normal pinna, 710 directions at 1.4 m,
elevations -40° to 90° in 10° rings, 5° azimuth steps on the horizontal ring), read from the copy that ships
inside the ``slab`` package (``slab.HRTF.kemar()``), so nothing is downloaded.

Coordinates: azimuth in degrees, counter-clockwise seen from above, 0 = straight ahead, +90 = left (the SOFA
and ambiX convention); elevation in degrees, +90 = up. Ears: index 0 = left, 1 = right.

Interpolation: bilinear on the measurement grid (linear in azimuth between the two nearest measured directions
of each of the two elevation rings around the target, then linear in elevation), applied to *onset-aligned*
responses, with each ear's onset delay interpolated separately and put back as a fractional delay. Averaging
aligned responses and delays avoids the comb filtering of averaging two responses whose onsets differ, so the
interaural time difference (ITD) moves smoothly with azimuth.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

log = logging.getLogger(__name__)

KEMAR_RATE = 44100
ONSET_THRESHOLD = 0.15  # leading edge: first sample above this fraction of the ear's peak
ONSET_UPSAMPLE = 8  # onsets are read on an 8x upsampled response: 2.8 µs steps at 44.1 kHz
PRE_DELAY_S = 0.25e-3  # aligned responses keep this much before their leading edge (pre-ringing)


@dataclass(frozen=True)
class HrtfSet:
    """A measured HRIR set at one sample rate, onset-aligned for interpolation.

    Attributes:
        sample_rate: Hz.
        azimuth: (N,) measured azimuths in degrees, [0, 360), +90 = left.
        elevation: (N,) measured elevations in degrees.
        aligned: (N, 2, L) float64 responses of the left and right ear, each shifted so its leading edge sits
            at ``PRE_DELAY_S``.
        delay: (N, 2) float64 onset delay of each ear in seconds, relative to the earliest onset of the set.
        latency: delay in s removed from all measurements (their earliest onset, propagation and system delay,
            less ``PRE_DELAY_S``): :meth:`hrir` at a measured direction is the measurement advanced by it.
    """

    sample_rate: int
    azimuth: np.ndarray
    elevation: np.ndarray
    aligned: np.ndarray
    delay: np.ndarray
    latency: float = 0.0

    @property
    def length(self) -> int:
        """Length in samples of the responses :meth:`hrir` returns."""
        extra = int(math.ceil(float(self.delay.max()) * self.sample_rate)) + 2
        return self.aligned.shape[-1] + extra

    def weights(self, azimuth: float, elevation: float = 0.0) -> list[tuple[int, float]]:
        """Measured directions and bilinear weights (summing to 1) for a target direction in degrees."""
        rings = np.unique(self.elevation)
        el = float(np.clip(elevation, rings[0], rings[-1]))
        hi = int(np.clip(np.searchsorted(rings, el), 0, len(rings) - 1))
        lo = max(hi - 1, 0) if rings[hi] > el else hi
        t = 0.0 if rings[hi] == rings[lo] else (el - rings[lo]) / (rings[hi] - rings[lo])
        out: dict[int, float] = {}
        for ring, w_ring in ((rings[lo], 1.0 - t), (rings[hi], t)):
            if w_ring <= 0:
                continue
            for idx, w in self._ring_weights(float(ring), azimuth):
                out[idx] = out.get(idx, 0.0) + w_ring * w
        return list(out.items())

    def _ring_weights(self, ring: float, azimuth: float) -> list[tuple[int, float]]:
        """The two measured azimuths of one elevation ring around ``azimuth`` and their linear weights."""
        idx = np.flatnonzero(self.elevation == ring)
        if len(idx) == 1:
            return [(int(idx[0]), 1.0)]
        idx = idx[np.argsort(self.azimuth[idx])]
        az = self.azimuth[idx]
        a = float(azimuth) % 360.0
        j = int(np.searchsorted(az, a, side="right")) - 1  # az[j] <= a < az[j + 1] (cyclic)
        a0, i0 = (az[j], idx[j]) if j >= 0 else (az[-1] - 360.0, idx[-1])
        a1, i1 = (az[j + 1], idx[j + 1]) if j + 1 < len(az) else (az[0] + 360.0, idx[0])
        t = (a - a0) / (a1 - a0)
        return [(int(i0), 1.0 - t), (int(i1), t)] if t > 0 else [(int(i0), 1.0)]

    def hrir(self, azimuth: float, elevation: float = 0.0) -> np.ndarray:
        """Interpolated head-related impulse responses for one direction.

        Args:
            azimuth: degrees, +90 = left (any real value; taken modulo 360).
            elevation: degrees, clipped to the measured range (-40, 90).

        Returns:
            (2, L) float64 [left, right] responses at ``sample_rate`` (L = :attr:`length`).
        """
        w = self.weights(azimuth, elevation)
        idx = np.array([i for i, _ in w])
        wt = np.array([v for _, v in w])
        aligned = np.tensordot(wt, self.aligned[idx], axes=1)  # (2, La)
        delay = wt @ self.delay[idx]  # (2,)
        return fractional_delay(aligned, delay * self.sample_rate, self.length)


def fractional_delay(x: np.ndarray, shift: np.ndarray, length: int) -> np.ndarray:
    """Delay each row of ``x`` (C, L) by ``shift`` (C,) samples (fractional, band-limited) into ``length``."""
    n = 1 << int(math.ceil(math.log2(length + x.shape[-1])))  # zero padding: the shift never wraps round
    spec = np.fft.rfft(x, n=n, axis=-1)
    f = np.fft.rfftfreq(n)
    out = np.fft.irfft(spec * np.exp(-2j * np.pi * f * np.asarray(shift)[:, None]), n=n, axis=-1)
    return out[:, :length]


def onset_seconds(ir: np.ndarray, sample_rate: int) -> np.ndarray:
    """Leading edge of each row of ``ir`` (C, L): first time above ``ONSET_THRESHOLD`` of its peak, in s."""
    up = resample_poly(ir, ONSET_UPSAMPLE, 1, axis=-1)
    mag = np.abs(up)
    first = np.argmax(mag >= ONSET_THRESHOLD * mag.max(axis=-1, keepdims=True), axis=-1)
    return first / (ONSET_UPSAMPLE * sample_rate)


def _align(irs: np.ndarray, onsets: np.ndarray, rate: int) -> np.ndarray:
    """Shift each response of ``irs`` (N, 2, L) so its onset lands at ``PRE_DELAY_S``; same length."""
    flat = irs.reshape(-1, irs.shape[-1])
    shift = (PRE_DELAY_S - onsets.reshape(-1)) * rate
    n = 1 << int(math.ceil(math.log2(2 * irs.shape[-1])))
    spec = np.fft.rfft(flat, n=n, axis=-1)
    out = np.fft.irfft(spec * np.exp(-2j * np.pi * np.fft.rfftfreq(n) * shift[:, None]), n=n, axis=-1)
    return out[:, : irs.shape[-1]].reshape(irs.shape)


def _import_slab():
    """``import slab``, also where the PortAudio library is missing (servers, CI).

    slab imports ``sounddevice`` for playback, whose import raises ``OSError`` (not ``ImportError``) without
    PortAudio; slab treats an ``ImportError`` as "no audio device". Nothing here plays sound, so a sounddevice that
    cannot load is marked absent before slab looks for it.
    """
    import importlib
    import sys

    try:
        importlib.import_module("sounddevice")
    except OSError:
        sys.modules["sounddevice"] = None  # `import sounddevice` now raises ImportError, which slab handles
    except ImportError:
        pass
    return importlib.import_module("slab")


def _read_kemar() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuths (N,), elevations (N,) in degrees and responses (N, 2, 512) at 44.1 kHz from slab's copy."""
    slab = _import_slab()

    kemar = slab.HRTF.kemar()
    if int(kemar.samplerate) != KEMAR_RATE:
        raise RuntimeError(f"slab's KEMAR set is at {kemar.samplerate} Hz, expected {KEMAR_RATE}")
    coords = np.asarray(kemar.sources.vertical_polar, dtype=np.float64)
    irs = np.stack([np.asarray(f.data, dtype=np.float64).T for f in kemar.data])
    return coords[:, 0] % 360.0, coords[:, 1], irs


@functools.lru_cache(maxsize=4)
def kemar(sample_rate: int = KEMAR_RATE) -> HrtfSet:
    """The KEMAR set at ``sample_rate`` Hz, onset-aligned (cached per rate; about 0.5 s on first use).

    Level: the responses are scaled so the frontal one has unit energy per ear at 44.1 kHz (a source ahead
    keeps its broadband level); the same factor applies at every rate.

    Onsets are measured at 44.1 kHz; the aligned responses are resampled (polyphase, Kaiser window) to the
    target rate, so the delays stay exact to a few microseconds whatever the rate.
    """
    az, el, irs = _read_kemar()
    onsets = onset_seconds(irs.reshape(-1, irs.shape[-1]), KEMAR_RATE).reshape(len(az), 2)
    front = np.flatnonzero((az == 0) & (el == 0))[0]
    aligned = _align(irs, onsets, KEMAR_RATE) / np.sqrt((irs[front] ** 2).sum(-1).mean())
    if sample_rate != KEMAR_RATE:
        g = math.gcd(int(sample_rate), KEMAR_RATE)
        # x rate ratio: a response's taps sum to its DC gain, and there are fewer taps per second at a lower rate
        aligned = resample_poly(aligned, int(sample_rate) // g, KEMAR_RATE // g, axis=-1) * (KEMAR_RATE / sample_rate)
    log.debug("KEMAR HRIRs: %d directions, %d taps at %d Hz", len(az), aligned.shape[-1], sample_rate)
    return HrtfSet(int(sample_rate), az, el, aligned, onsets - onsets.min(), float(onsets.min() - PRE_DELAY_S))
