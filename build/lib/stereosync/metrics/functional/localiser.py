"""Sound-event localisers for Spatial AV-Align: where, horizontally, is each active sound every 0.1 s.

SAVGBench uses a trained stereo SELD network; none is available offline, so the default here is model-free
(docs/metrics.md): per frame, activity from the frame energy and position from the inter-channel level difference
(ILD) through the inverse of the constant-power panning law. A learned localiser plugs in through
:class:`EventLocaliser`.

Panning convention (the synthetic generator's): a source at horizontal position p ∈ [0, 1] (0 = left edge of
the picture, 1 = right edge) gets gains L = cos(pπ/2), R = sin(pπ/2). Inverting with the frame RMS of each
channel: p = atan2(rms_R, rms_L) / (π/2). The estimate is read directly as a position in frame widths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch


class EventLocaliser(Protocol):
    """Anything that maps a stereo clip to per-frame event positions."""

    def __call__(self, audio: torch.Tensor, sample_rate: int, hop_s: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Localise sound events.

        Args:
            audio: (2, T) stereo waveform (L, R).
            sample_rate: Hz.
            hop_s: frame length and hop in seconds (0.1 for Spatial AV-Align).

        Returns:
            positions (J, E) horizontal positions in [0, 1] of the frame width, and active (J, E) bool, for
            J = T // round(hop_s · sample_rate) frames and up to E events per frame.
        """
        ...


def pan_from_energies(energy_left: torch.Tensor, energy_right: torch.Tensor) -> torch.Tensor:
    """Inverse constant-power panning law.

    Args:
        energy_left: (...) mean-square level of the left channel.
        energy_right: (...) mean-square level of the right channel.

    Returns:
        (...) pan position in [0, 1] (0 = hard left, 0.5 = centre, 1 = hard right); 0.5 where both are 0.
    """
    pan = torch.atan2(energy_right.sqrt(), energy_left.sqrt()) / (math.pi / 2)
    return torch.where((energy_left > 0) | (energy_right > 0), pan, torch.full_like(pan, 0.5))


def frame_energies(audio: torch.Tensor, sample_rate: int, hop_s: float) -> torch.Tensor:
    """Mean-square level per channel and non-overlapping frame (a trailing partial frame is dropped).

    Args:
        audio: (C, T) waveform.
        sample_rate: Hz.
        hop_s: frame length in seconds.

    Returns:
        (C, J) mean square per frame, float64, J = T // round(hop_s · sample_rate).
    """
    hop = round(hop_s * sample_rate)
    n = audio.shape[-1] // hop
    return audio[:, : n * hop].double().reshape(audio.shape[0], n, hop).pow(2).mean(dim=-1)


@dataclass(frozen=True)
class IldLocaliser:
    """Model-free localiser: one event per active frame, positioned by the inter-channel level difference.

    A frame is active when its power (mean square of the L/R average power) is above ``threshold_db`` dBFS
    and within ``dynamic_range_db`` of the clip's loudest frame, so ambience between events stays inactive
    and digital silence never yields an event.

    Args:
        threshold_db: absolute activity floor, dB relative to a full-scale DC signal (mean square 1).
        dynamic_range_db: frames more than this below the loudest frame of the clip are inactive.
    """

    threshold_db: float = -60.0
    dynamic_range_db: float = 20.0

    def __call__(self, audio: torch.Tensor, sample_rate: int, hop_s: float) -> tuple[torch.Tensor, torch.Tensor]:
        """See :class:`EventLocaliser`; returns E = 1 event slot per frame."""
        if audio.shape[0] != 2:
            raise ValueError(f"the ILD localiser needs stereo (2, T) audio, got {tuple(audio.shape)}")
        energy = frame_energies(audio, sample_rate, hop_s)  # (2, J)
        power_db = 10 * torch.log10(energy.mean(dim=0).clamp(min=1e-30))  # (J,)
        if power_db.numel() == 0:
            return energy.new_zeros(0, 1), torch.zeros(0, 1, dtype=torch.bool, device=audio.device)
        active = (power_db >= self.threshold_db) & (power_db >= power_db.max() - self.dynamic_range_db)
        return pan_from_energies(energy[0], energy[1]).unsqueeze(-1), active.unsqueeze(-1)
