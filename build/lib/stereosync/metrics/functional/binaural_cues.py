"""Interaural cues of binaural audio and the HRTF set's cue-vs-azimuth curves (docs/spatial_audio.md).

- ITD (interaural time difference): the lag of the right ear behind the left (+ = the sound reaches the left
  ear first, a source on the left), from the peaks of the GCC-PHAT cross-correlation within ±0.8 ms (the
  largest ITD of a human-sized head), read on a 16x finer lag grid than the sample period. Every local peak
  within half the highest is a candidate (a tonal sound correlates at lags a period apart).
- ILD (interaural level difference): 10 log10(left energy / right energy) in dB (+ = left louder).

Both are mapped to an azimuth through the KEMAR set's own curves: the ITD the same GCC-PHAT reads from the
HRIR pair at each azimuth of the frontal half-plane (-90° to 90°, 1° steps, elevation 0), and the ILD the
HRIRs give a source with the frame's spectrum (the mean ear spectrum over the diffuse-field average of the
set, so a low-pitched footstep is matched against the small ILD of low frequencies). The azimuth minimises
``((itd - ITD(az)) / σ_itd)² + ((ild - ILD(az)) / σ_ild)²`` over the grid and the ITD candidates: the ITD
carries most of the weight
(σ_itd = 50 µs, about 5° near the front), the ILD resolves what the ITD leaves ambiguous. Sources behind the
listener are folded to the front (the cues of ±az and ±(180 − az) nearly coincide).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import torch

ITD_MAX_S = 0.8e-3
LAG_UPSAMPLE = 16
SIGMA_ITD_S = 50e-6
SIGMA_ILD_DB = 3.0
AZ_GRID_DEG = np.arange(-90.0, 90.5, 1.0)
PHAT_FLOOR_DB = 50.0
PEAK_RATIO = 0.5


def gcc_phat(left: torch.Tensor, right: torch.Tensor, sample_rate: int, max_lag_s: float = ITD_MAX_S):
    """GCC-PHAT cross-correlation of ``right`` against ``left`` per row, at lags within ±``max_lag_s``.

    Bins more than ``PHAT_FLOOR_DB`` below the frame's strongest carry no weight: whitened, they would be
    noise as loud as the signal.

    Args:
        left: (J, N) frames of the left ear.
        right: (J, N) frames of the right ear.
        sample_rate: Hz.
        max_lag_s: largest lag searched, seconds.

    Returns:
        lags (M,) float64 in s (+ = right lags behind left), correlation (J, M) float64.
    """
    n = 2 * left.shape[-1]
    cross = torch.fft.rfft(right.double(), n=n) * torch.fft.rfft(left.double(), n=n).conj()
    mag = cross.abs()
    keep = mag >= mag.amax(dim=-1, keepdim=True) * 10 ** (-PHAT_FLOOR_DB / 10)
    cross = torch.where(keep & (mag > 0), cross / mag.clamp(min=1e-30), torch.zeros_like(cross))
    cc = torch.fft.irfft(cross, n=n * LAG_UPSAMPLE)  # lag k / (U · sr); negative lags wrap round
    max_lag = int(math.ceil(max_lag_s * sample_rate * LAG_UPSAMPLE))
    window = torch.cat([cc[:, -max_lag:], cc[:, : max_lag + 1]], dim=-1)
    lags = torch.arange(-max_lag, max_lag + 1, dtype=torch.float64) / (LAG_UPSAMPLE * sample_rate)
    return lags, window


def gcc_phat_itd(
    left: torch.Tensor, right: torch.Tensor, sample_rate: int, max_lag_s: float = ITD_MAX_S
) -> torch.Tensor:
    """Lag (s) of ``right`` behind ``left`` per row (J, N): the highest GCC-PHAT peak within ±``max_lag_s``."""
    lags, cc = gcc_phat(left, right, sample_rate, max_lag_s)
    return lags[cc.argmax(dim=-1)]


def itd_candidates(cc: torch.Tensor) -> torch.Tensor:
    """(J, M) bool: local maxima of the GCC-PHAT rows within ``PEAK_RATIO`` of the row's highest peak.

    A tonal sound correlates at several lags a period apart; keeping every strong peak lets the ILD choose.
    """
    pad = torch.nn.functional.pad(cc, (1, 1), value=-float("inf"))
    local = (cc > pad[:, :-2]) & (cc >= pad[:, 2:])
    return local & (cc >= PEAK_RATIO * cc.amax(dim=-1, keepdim=True))


class CueCurves(NamedTuple):
    """The HRTF set's cues over the azimuth grid, for frames of ``n`` samples.

    Attributes:
        azimuth: (A,) degrees, + = left.
        itd: (A,) seconds, as :func:`gcc_phat_itd` reads it from the HRIR pair.
        power_left: (A, F) |H_left|² on the rfft grid of 2n points.
        power_right: (A, F) |H_right|².
        diffuse: (F,) mean over azimuths and ears of |H|², the set's average spectral colouring.
    """

    azimuth: torch.Tensor
    itd: torch.Tensor
    power_left: torch.Tensor
    power_right: torch.Tensor
    diffuse: torch.Tensor


@functools.lru_cache(maxsize=8)
def cue_curves(sample_rate: int, n: int) -> CueCurves:
    """The KEMAR set's ITD and ear power spectra at each grid azimuth (cached per rate and frame length)."""
    from stereosync.spatial.hrtf import kemar

    hrtfs = kemar(sample_rate)
    irs = torch.from_numpy(np.stack([hrtfs.hrir(az) for az in AZ_GRID_DEG]))  # (A, 2, L)
    itd = gcc_phat_itd(irs[:, 0], irs[:, 1], sample_rate)
    power = torch.fft.rfft(irs, n=2 * n).abs().pow(2)  # (A, 2, F)
    diffuse = power.mean(dim=(0, 1))
    return CueCurves(torch.from_numpy(AZ_GRID_DEG), itd, power[:, 0], power[:, 1], diffuse)


def frame_azimuths(audio: torch.Tensor, sample_rate: int, hop_s: float) -> torch.Tensor:
    """Azimuth (degrees, + = left) of the binaural signal in each non-overlapping frame.

    Args:
        audio: (2, T) binaural waveform [left, right].
        sample_rate: Hz.
        hop_s: frame length in s; a trailing partial frame is dropped.

    Returns:
        (J,) float64 azimuths in [-90, 90], J = T // round(hop_s · sample_rate).
    """
    hop = round(hop_s * sample_rate)
    j = audio.shape[-1] // hop
    frames = audio[:, : j * hop].double().reshape(2, j, hop)
    if j == 0:
        return torch.zeros(0, dtype=torch.float64)
    curves = cue_curves(int(sample_rate), hop)
    lags, cc = gcc_phat(frames[0], frames[1], sample_rate)  # (M,), (J, M)
    power = torch.fft.rfft(frames, n=2 * hop).abs().pow(2)  # (2, J, F)
    ild = 10 * torch.log10(power[0].sum(-1).clamp(min=1e-30) / power[1].sum(-1).clamp(min=1e-30))
    source = power.mean(dim=0) / curves.diffuse.clamp(min=1e-20)  # (J, F) the source spectrum, roughly
    ild_az = 10 * torch.log10(
        (source @ curves.power_left.T).clamp(min=1e-30) / (source @ curves.power_right.T).clamp(min=1e-30)
    )  # (J, A)
    itd_cost = ((lags[:, None] - curves.itd[None]) / SIGMA_ITD_S) ** 2  # (M, A)
    itd_cost = itd_cost[None].masked_fill(~itd_candidates(cc)[:, :, None], float("inf")).amin(dim=1)  # (J, A)
    cost = itd_cost + ((ild[:, None] - ild_az) / SIGMA_ILD_DB) ** 2
    return curves.azimuth[cost.argmin(dim=-1)]
