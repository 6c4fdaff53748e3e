"""Figures a person reads: L/R spectrograms and the stereo pan against the tracked boxes.

Shared by the TensorBoard sample logger (``callbacks.audio_samples``) and the demo (``stereosync.demo``). Every
function returns a matplotlib ``Figure`` (Agg backend, no display needed); the caller saves or logs it.

- :func:`spectrogram_figure`: one panel per channel, labelled L and R, time (s) and frequency (kHz) axes, a
  shared dB colour bar (0 dB = the clip's loudest bin).
- :func:`pan_figure`: the pan estimated from the generated audio (and from a reference, when there is one) per
  0.1-s frame, over the horizontal box centre of each tracked object — what Spatial AV-Align scores.
"""

from __future__ import annotations

import numpy as np
import torch

from stereosync.metrics.functional.localiser import IldLocaliser
from stereosync.metrics.functional.pan_tracking import box_centres

DB_RANGE = 80.0
"""Dynamic range shown by the spectrograms (dB below the loudest bin)."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pan_track(audio: torch.Tensor, sample_rate: int, hop_s: float = 0.1) -> dict[str, np.ndarray]:
    """Per ``hop_s`` frame of a (2, T) clip: frame centre time (s) and estimated pan in [0, 1] (NaN: inactive).

    The pan is the inverse constant-power law of the inter-channel level difference (``IldLocaliser``): 0 = left
    edge of the picture, 1 = right edge.
    """
    pos, active = IldLocaliser()(audio.float().cpu(), sample_rate, hop_s)
    pan = torch.where(active[:, 0], pos[:, 0], torch.nan).numpy()
    return {"time": (np.arange(len(pan)) + 0.5) * hop_s, "pan": pan}


def box_tracks(
    boxes: torch.Tensor, box_mask: torch.Tensor, n_frames: int, hop_s: float = 0.1, box_fps: float = 30.0
) -> np.ndarray:
    """(J, K) horizontal box centre of each tracked object in the box frame nearest each audio frame (NaN where
    the object is not detected)."""
    centres, present = box_centres(n_frames, boxes.cpu().double(), box_mask.cpu(), box_fps, hop_s)
    return torch.where(present, centres, torch.nan).numpy()


def pan_figure(
    generated: torch.Tensor,
    boxes: torch.Tensor,
    box_mask: torch.Tensor,
    sample_rate: int,
    reference: torch.Tensor | None = None,
    title: str = "",
    hop_s: float = 0.1,
    box_fps: float = 30.0,
):
    """Generated (and reference) pan against the box centre of every tracked object.

    Args:
        generated: (2, T) generated stereo audio.
        boxes: (FB, K, 4) normalised boxes at ``box_fps``; box_mask: (FB, K).
        sample_rate: Hz of the audio.
        reference: (2, T') reference stereo audio, or None.
        title: figure title.
    """
    plt = _pyplot()
    gen = pan_track(generated, sample_rate, hop_s)
    tracks = box_tracks(boxes, box_mask, len(gen["time"]), hop_s, box_fps)
    fig, ax = plt.subplots(figsize=(7, 3))
    for k in range(tracks.shape[1]):
        if np.isfinite(tracks[:, k]).any():
            ax.plot(gen["time"], tracks[:, k], lw=2.5, alpha=0.45, label=f"box centre, object {k + 1}")
    if reference is not None:
        ref = pan_track(reference, sample_rate, hop_s)
        ax.scatter(ref["time"], ref["pan"], s=22, marker="o", facecolors="none", edgecolors="k", label="reference pan")
    ax.scatter(gen["time"], gen["pan"], s=14, color="tab:red", label="generated pan")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, max(float(generated.shape[-1]) / sample_rate, hop_s))
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    ax.set_yticklabels(["L", "", "centre", "", "R"])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("horizontal position")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def spectrogram_db(audio: torch.Tensor, n_fft: int = 512) -> torch.Tensor:
    """(2, T) → (2, F, frames) magnitude in dB relative to the clip's loudest bin, floored at −``DB_RANGE``."""
    spec = torch.stft(
        audio.float().cpu(), n_fft, hop_length=n_fft // 4, window=torch.hann_window(n_fft), return_complex=True
    ).abs()
    db = 20 * torch.log10(spec.clamp(min=1e-8))
    return (db - db.max()).clamp(min=-DB_RANGE)


def spectrogram_figure(audio: torch.Tensor, sample_rate: int, title: str = "", n_fft: int = 512):
    """Two panels, L above R: time (s) × frequency (kHz), colour = dB re the loudest bin, one colour bar."""
    plt = _pyplot()
    db = spectrogram_db(audio, n_fft).numpy()
    seconds = audio.shape[-1] / sample_rate
    extent = (0.0, seconds, 0.0, sample_rate / 2000)
    fig, axes = plt.subplots(2, 1, figsize=(7, 4), sharex=True, constrained_layout=True)
    for ax, channel, name in zip(axes, db, ("L (left)", "R (right)")):
        image = ax.imshow(channel, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=-DB_RANGE, vmax=0)
        ax.set_ylabel("frequency (kHz)")
        ax.text(0.01, 0.92, name, transform=ax.transAxes, color="w", fontsize=9, va="top", weight="bold")
    axes[-1].set_xlabel("time (s)")
    if title:
        axes[0].set_title(title)
    fig.colorbar(image, ax=list(axes), label="dB (re loudest)")
    return fig


def figure_to_array(fig) -> np.ndarray:
    """Render a figure to an (H, W, 3) uint8 RGB array and close it."""
    plt = _pyplot()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb
