"""The KEMAR HRIR set: exact at measured directions, between its neighbours elsewhere, left/right symmetric."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate, resample_poly

from stereosync.spatial.hrtf import KEMAR_RATE, _read_kemar, fractional_delay, kemar


def _itd(h: np.ndarray, rate: int = 352800) -> float:
    """Right-ear lag behind the left ear (s), from the cross-correlation peak of a (2, L) response."""
    c = correlate(h[1], h[0])
    return (int(np.argmax(c)) - (h.shape[-1] - 1)) / rate


@pytest.fixture(scope="module")
def hrtfs():
    return kemar(KEMAR_RATE)


def _measured(az: float, el: float = 0.0) -> np.ndarray:
    azs, els, irs = _read_kemar()
    return irs[np.flatnonzero((azs == az % 360) & (els == el))[0]]


@pytest.mark.parametrize("az,el", [(0, 0), (30, 0), (-65, 0), (90, 0), (120, 20), (0, -40), (45, 10)])
def test_measured_direction_returns_the_measurement(hrtfs, az, el):
    h = hrtfs.hrir(az, el)
    raw = _measured(az, el)
    front = _measured(0.0)
    expected = fractional_delay(raw, np.full(2, -hrtfs.latency * KEMAR_RATE), h.shape[-1])
    expected /= np.sqrt((front**2).sum(-1).mean())  # the set's level: unit energy per ear straight ahead
    assert np.abs(h - expected).max() < 0.01 * np.abs(expected).max()


def test_between_two_directions_lies_between_them(hrtfs):
    a, b, mid = hrtfs.hrir(30), hrtfs.hrir(35), hrtfs.hrir(32.5)
    # interaural delay and level difference of the interpolated response fall between the neighbours'
    itd = [np.argmax(np.abs(h[1])) - np.argmax(np.abs(h[0])) for h in (a, mid, b)]
    ild = [10 * np.log10((h[0] ** 2).sum() / (h[1] ** 2).sum()) for h in (a, mid, b)]
    assert itd[0] <= itd[1] <= itd[2]
    assert min(ild[0], ild[2]) <= ild[1] <= max(ild[0], ild[2])
    w = hrtfs.weights(32.5)
    assert sorted(round(v, 6) for _, v in w) == [0.5, 0.5]
    # and the response itself is closer to each neighbour than the neighbours are to each other
    assert np.linalg.norm(mid - a) < np.linalg.norm(b - a) and np.linalg.norm(mid - b) < np.linalg.norm(b - a)


@pytest.mark.parametrize("az", [10, 25, 40, 72.5, 135])
def test_left_right_symmetry(hrtfs, az):
    left, right = hrtfs.hrir(az), hrtfs.hrir(-az)
    scale = np.abs(left).max()
    assert np.abs(left[0] - right[1]).max() < 0.05 * scale
    assert np.abs(left[1] - right[0]).max() < 0.05 * scale


def test_resampled_set_keeps_level_and_delays():
    lo, hi = kemar(16000), kemar(KEMAR_RATE)
    for az in (0, 40, -80):
        # the same gain in the band both rates carry (0.3-6 kHz) and the same interaural delay
        gains = []
        for h in (lo, hi):
            spec = np.abs(np.fft.rfft(h.hrir(az), n=4 * h.sample_rate // 100, axis=-1))
            f = np.fft.rfftfreq(4 * h.sample_rate // 100, 1 / h.sample_rate)
            gains.append(20 * np.log10(spec[:, (f > 300) & (f < 6000)].mean(-1)))
        assert np.allclose(gains[0], gains[1], atol=0.5)
        itd = [_itd(resample_poly(lo.hrir(az), 441, 20, axis=-1)), _itd(resample_poly(hi.hrir(az), 8, 1, axis=-1))]
        assert abs(itd[0] - itd[1]) < 20e-6
    assert kemar(16000) is lo  # cached
