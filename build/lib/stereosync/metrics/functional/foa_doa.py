"""Direction of arrival (DOA) of first-order ambisonics per sound event, and its error in degrees.

The DOA of a frame is the direction of its active intensity vector ``I = mean(W · [X, Y, Z])`` (ambiX ACN/SN3D,
:mod:`stereosync.spatial.ambisonics`); for one plane wave it points at the source. Events are the frames the
project's event localiser marks active, fed the omnidirectional W channel. The DOA error of an event is the
great-circle angle between its DOA and a reference direction, as SELD evaluations (DCASE) report it: here the
nearest present box centre (azimuth through the 80° field of view, elevation 0), or the DOA of a reference
FOA signal in the same frame.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from stereosync.metrics.functional.binaural_align import match_boxes
from stereosync.metrics.functional.localiser import EventLocaliser, IldLocaliser
from stereosync.metrics.functional.spatial_av_align import HOP_S, VIDEO_FPS

_ACTIVITY = IldLocaliser()


class DoaFrames(NamedTuple):
    """Per-frame DOA of one clip: azimuth, elevation (J,) in degrees, active (J,) bool."""

    azimuth: torch.Tensor
    elevation: torch.Tensor
    active: torch.Tensor


def doa_frames(
    foa: torch.Tensor, sample_rate: int, hop_s: float = HOP_S, localiser: EventLocaliser | None = None
) -> DoaFrames:
    """DOA of each non-overlapping ``hop_s`` frame of an ambiX signal ``foa`` (4, T) [W, Y, Z, X]."""
    foa = torch.as_tensor(foa).double().cpu()
    hop = round(hop_s * sample_rate)
    j = foa.shape[-1] // hop
    frames = foa[:, : j * hop].reshape(4, j, hop)
    w, y, z, x = frames
    ix, iy, iz = ((w * c).mean(-1) for c in (x, y, z))
    az = torch.rad2deg(torch.atan2(iy, ix))
    el = torch.rad2deg(torch.atan2(iz, torch.hypot(ix, iy)))
    _, active = (localiser or _ACTIVITY)(foa[[0, 0]], sample_rate, hop_s)
    return DoaFrames(az, el, active[:j, 0].bool())


def angle_between(az1: torch.Tensor, el1: torch.Tensor, az2: torch.Tensor, el2: torch.Tensor) -> torch.Tensor:
    """Great-circle angle in degrees between directions given as azimuth and elevation in degrees."""
    a1, e1, a2, e2 = (torch.deg2rad(v.double()) for v in (az1, el1, az2, el2))
    cos = torch.sin(e1) * torch.sin(e2) + torch.cos(e1) * torch.cos(e2) * torch.cos(a1 - a2)
    return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))


class DoaStats(NamedTuple):
    """Sufficient statistics of one clip: Σ DOA error (degrees) and the number of matched events."""

    err_sum: float
    n_matched: int


def foa_doa_stats(
    foa: torch.Tensor,
    sample_rate: int,
    boxes: torch.Tensor,
    box_mask: torch.Tensor,
    box_fps: float = 30.0,
    *,
    localiser: EventLocaliser | None = None,
    hop_s: float = HOP_S,
) -> DoaStats:
    """DOA error of one clip's events against the nearest present box centre (elevation 0).

    Args:
        foa: (4, T) ambiX [W, Y, Z, X] waveform.
        sample_rate: Hz.
        boxes: (FB, K, 4) [x0, y0, x1, y1] normalised to [0, 1], at ``box_fps``.
        box_mask: (FB, K) bool.
        box_fps: frame rate of ``boxes``.
        localiser: activity detector (run on W); default :class:`IldLocaliser`.
        hop_s: event frame length in s (0.1).
    """
    doa = doa_frames(foa, sample_rate, hop_s, localiser)
    boxes, box_mask = torch.as_tensor(boxes).cpu(), torch.as_tensor(box_mask).bool().cpu()
    _, box_az = match_boxes(doa.azimuth, boxes, box_mask, box_fps, hop_s, VIDEO_FPS)
    matched = doa.active & ~torch.isnan(box_az)
    err = angle_between(doa.azimuth, doa.elevation, box_az, torch.zeros_like(box_az))[matched]
    return DoaStats(float(err.sum()), int(matched.sum()))


def foa_doa_error_between(
    foa: torch.Tensor, reference: torch.Tensor, sample_rate: int, hop_s: float = HOP_S
) -> DoaStats:
    """DOA error of ``foa`` (4, T) against a reference FOA signal (4, T), over the reference's active frames."""
    est, ref = doa_frames(foa, sample_rate, hop_s), doa_frames(reference, sample_rate, hop_s)
    n = min(len(est.active), len(ref.active))
    err = angle_between(est.azimuth[:n], est.elevation[:n], ref.azimuth[:n], ref.elevation[:n])[ref.active[:n]]
    return DoaStats(float(err.sum()), int(ref.active[:n].sum()))
