"""Shared fixtures of the metric tests: constructed signals with known answers, and a random-weight CLAP."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

SR = 44100


def pan(mono: torch.Tensor, position: float | torch.Tensor) -> torch.Tensor:
    """Constant-power panning (the generator's law): (T,) → (2, T); 0 = left, 0.5 = centre, 1 = right."""
    theta = torch.as_tensor(position, dtype=mono.dtype) * math.pi / 2
    return torch.stack([mono * torch.cos(theta), mono * torch.sin(theta)])


def noise_bursts(seconds: float = 2.0, sr: int = SR, period: float = 0.5, length: float = 0.3, seed: int = 0):
    """Mono white-noise bursts (amplitude 0.3) of ``length`` s every ``period`` s, silence between. (T,)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sr)) / sr
    return 0.3 * torch.randn(t.shape[0], generator=g) * ((t % period) < length)


def box_track(centres: torch.Tensor, width: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """One tracked object: (FB,) horizontal centres → boxes (FB, 1, 4) normalised, mask (FB, 1) all True."""
    half = width / 2
    c = centres.double()
    boxes = torch.stack([c - half, torch.full_like(c, 0.3), c + half, torch.full_like(c, 0.9)], dim=-1)
    return boxes[:, None].float(), torch.ones(len(c), 1, dtype=torch.bool)


def texture(size: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth random grey texture (H, W) uint8 that optical flow can track."""
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur((rng.random((size, size)) * 255).astype(np.uint8), (0, 0), 2)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)


def motion_video(burst_frames: list[int], n_frames: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """Static texture that jumps 3 px right at each burst frame: (F, H, W, 3) uint8; flow peaks at bursts only."""
    tex, shift, frames = texture(size, seed), 0, []
    for i in range(n_frames):
        shift += 3 * (i in burst_frames)
        frames.append(np.repeat(np.roll(tex, shift, axis=1)[..., None], 3, axis=-1))
    return np.stack(frames)


def click_track(times: list[float], seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Stereo (2, T) float32 silence with a 20-ms decaying noise click at each time (s)."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * sr), np.float32)
    n = int(0.02 * sr)
    for t in times:
        i = int(round(t * sr))
        y[i : i + n] += 0.8 * rng.standard_normal(n).astype(np.float32) * np.exp(-np.arange(n) / (0.004 * sr))
    return np.stack([y, y])


@pytest.fixture(scope="package")
def signals() -> SimpleNamespace:
    """Constructors of test signals (see the module's functions)."""
    return SimpleNamespace(
        sr=SR,
        pan=pan,
        noise_bursts=noise_bursts,
        box_track=box_track,
        motion_video=motion_video,
        click_track=click_track,
    )


@pytest.fixture(scope="package")
def clap_encoder():
    """The real laion_clap HTSAT-tiny fusion audio branch with random weights (no checkpoint, no network)."""
    from stereosync.clap import ClapAudioEncoder

    torch.manual_seed(0)
    return ClapAudioEncoder(checkpoint=None)
