"""The temporal cue: RMS envelope of the audio.

Per channel, a causal moving RMS over 10,000 samples (≈ 0.23 s at 44.1 kHz) followed by a 2,000-sample
moving average; linear amplitude at audio rate. Window lengths are defined at 44.1 kHz and scaled for other
rates so the envelope means the same thing in seconds.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

RMS_WINDOW_44K = 10_000
SMOOTH_WINDOW_44K = 2_000

EnvelopeMode = Literal["mono", "stereo"]


def _causal_moving_average(x: torch.Tensor, window: int) -> torch.Tensor:
    """Causal mean over the last ``window`` samples (fewer at the start). x: (..., T)."""
    c = torch.cumsum(F.pad(x.double(), (1, 0)), dim=-1)  # float64: cumsum over 88k samples stays exact
    t = x.shape[-1]
    idx = torch.arange(1, t + 1, device=x.device)
    lo = (idx - window).clamp(min=0)
    total = c[..., idx] - c[..., lo]
    return (total / (idx - lo)).to(x.dtype)


def rms_envelope(audio: torch.Tensor, sample_rate: int = 44100, mode: EnvelopeMode = "mono") -> torch.Tensor:
    """Envelope of a waveform.

    Args:
        audio: (..., C, T) waveform, C = 1 or 2.
        sample_rate: Hz; the 10,000 / 2,000-sample windows are scaled by ``sample_rate / 44100``.
        mode: ``"mono"``: envelope of the L/R mean, duplicated to C channels (the stereo image must then
            come from the video); ``"stereo"``: one envelope per channel.

    Returns:
        (..., C, T) envelope, linear amplitude, same rate as ``audio``.
    """
    if mode not in ("mono", "stereo"):
        raise ValueError(f"envelope mode must be 'mono' or 'stereo', got {mode!r}")
    scale = sample_rate / 44100
    rms_win = max(1, round(RMS_WINDOW_44K * scale))
    smooth_win = max(1, round(SMOOTH_WINDOW_44K * scale))
    x = audio.mean(dim=-2, keepdim=True) if mode == "mono" else audio
    rms = _causal_moving_average(x.float() ** 2, rms_win).clamp(min=0).sqrt()
    env = _causal_moving_average(rms, smooth_win)
    return env.expand_as(audio).contiguous() if mode == "mono" else env
