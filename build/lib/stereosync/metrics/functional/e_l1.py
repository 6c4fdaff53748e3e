"""E-L1: mean absolute difference of frame-RMS energy envelopes (docs/metrics.md, the predecessor's evaluation).

Mono at 44.1 kHz; generated audio zero-padded or cropped to the reference length; frame RMS with frame 512,
hop 128, centred with reflect padding, linear amplitude (``librosa.feature.rms`` semantics); per-clip mean of
|rms_gen − rms_ref|; mean over clips.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio

E_L1_SAMPLE_RATE = 44100
FRAME_LENGTH = 512
HOP_LENGTH = 128


def frame_rms(audio: torch.Tensor, frame_length: int = FRAME_LENGTH, hop_length: int = HOP_LENGTH) -> torch.Tensor:
    """Centred frame RMS, as ``librosa.feature.rms(y, center=True, pad_mode="reflect")``.

    Args:
        audio: (B, T) mono waveform, T > frame_length // 2.
        frame_length: frame size in samples.
        hop_length: hop in samples.

    Returns:
        (B, 1 + T // hop_length) RMS per frame, linear amplitude, float64.
    """
    pad = frame_length // 2
    x = F.pad(audio.double().unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)  # (B, T + 2 pad)
    frames = x.unfold(-1, frame_length, hop_length)  # (B, n_frames, frame_length)
    return frames.pow(2).mean(dim=-1).sqrt()


def to_mono_44k(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Average channels and resample to 44.1 kHz. audio: (B, C, T) at ``sample_rate`` Hz → (B, T')."""
    mono = audio.mean(dim=1)
    if sample_rate != E_L1_SAMPLE_RATE:
        mono = torchaudio.functional.resample(mono.float(), sample_rate, E_L1_SAMPLE_RATE)
    return mono


def match_length(audio: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad or crop the last axis to ``length`` samples. audio: (..., T) → (..., length)."""
    t = audio.shape[-1]
    return audio[..., :length] if t >= length else F.pad(audio, (0, length - t))


def e_l1_per_clip(preds: torch.Tensor, target: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Per-clip E-L1.

    Args:
        preds: (B, C, T1) generated audio at ``sample_rate`` Hz.
        target: (B, C, T2) reference audio at ``sample_rate`` Hz.
        sample_rate: Hz; both are resampled to 44.1 kHz.

    Returns:
        (B,) mean |rms_gen − rms_ref| per clip, float64, linear amplitude.
    """
    ref = to_mono_44k(target, sample_rate)
    gen = match_length(to_mono_44k(preds, sample_rate), ref.shape[-1])
    return (frame_rms(gen) - frame_rms(ref)).abs().mean(dim=-1)


def e_l1(preds: torch.Tensor, target: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """E-L1 of a set of clips: the mean over clips of :func:`e_l1_per_clip`. Shapes as there; returns a scalar."""
    return e_l1_per_clip(preds, target, sample_rate).mean()
