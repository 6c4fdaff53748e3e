"""Binaural Spatial AV-Align and azimuth error: the Spatial AV-Align rule applied to the azimuth of each event.

Every 0.1 s the project's event localiser (:class:`IldLocaliser`, its activity only) says whether a sound is
active; the event's azimuth comes from the binaural cues (:func:`frame_azimuths`: GCC-PHAT ITD plus ILD through
the KEMAR curves). Boxes become directions through the camera model (80° horizontal field of view,
:mod:`stereosync.spatial.geometry`).

- **binaural Spatial AV-Align**: an event is a true positive when some box within ±1 video frame at 4 fps spans
  azimuths that overlap [az − m, az + m], m = 40/256 of the field of view (12.5°), the angular form of
  Spatial AV-Align's margin; score = ΣTP / (ΣTP + ΣFN) over all events.
- **azimuth MAE**: mean |az − az_box| in degrees over events with a box, az_box the azimuth of the nearest
  present box centre in the box frame nearest to the event (as pan MAE does with positions).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from stereosync.metrics.functional.binaural_cues import frame_azimuths
from stereosync.metrics.functional.localiser import EventLocaliser, IldLocaliser
from stereosync.metrics.functional.pan_tracking import box_centres
from stereosync.metrics.functional.spatial_av_align import HOP_S, MARGIN, VIDEO_FPS, window_boxes
from stereosync.spatial.geometry import HFOV_DEG, azimuth_from_x

MARGIN_DEG = MARGIN * HFOV_DEG
_ACTIVITY = IldLocaliser()


class AzimuthEvents(NamedTuple):
    """Per-frame outcome of one clip (J frames of ``hop_s``).

    Attributes:
        azimuth: (J,) estimated azimuth in degrees (+ = left).
        active: (J,) bool, a sound event is active.
        hit: (J,) bool, active and within the margin of a window box.
        box_azimuth: (J,) azimuth of the nearest present box centre; NaN where there is none.
    """

    azimuth: torch.Tensor
    active: torch.Tensor
    hit: torch.Tensor
    box_azimuth: torch.Tensor


def _azimuth(x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(azimuth_from_x(x.detach().cpu().double().numpy())).to(x.device)


def match_boxes(
    azimuth: torch.Tensor, boxes: torch.Tensor, box_mask: torch.Tensor, box_fps: float, hop_s: float, video_fps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spatial AV-Align hits in azimuth and the nearest box azimuth for per-frame azimuths ``azimuth`` (J,).

    Returns:
        hit (J,) bool (not yet masked by activity), box azimuth (J,) float64 (NaN where no box).
    """
    j = azimuth.shape[0]
    boxes = boxes.double()
    x0, x1, present = window_boxes(j, boxes, box_mask, box_fps, hop_s, video_fps)  # (J, 3K)
    az_left, az_right = _azimuth(x0), _azimuth(x1)  # left edge = larger azimuth
    az = azimuth.double().unsqueeze(-1)
    hit = (present & (az_left >= az - MARGIN_DEG) & (az_right <= az + MARGIN_DEG)).any(dim=-1)
    centres, here = box_centres(j, boxes, box_mask, box_fps, hop_s)  # (J, K)
    dist = (az - _azimuth(centres)).abs().masked_fill(~here, float("inf"))
    nearest = dist.argmin(dim=-1, keepdim=True)
    box_az = _azimuth(centres).gather(-1, nearest).squeeze(-1)
    return hit, torch.where(here.any(dim=-1), box_az, torch.full_like(box_az, float("nan")))


def azimuth_events(
    audio: torch.Tensor,
    sample_rate: int,
    boxes: torch.Tensor,
    box_mask: torch.Tensor,
    box_fps: float = 30.0,
    *,
    localiser: EventLocaliser | None = None,
    hop_s: float = HOP_S,
    video_fps: float = VIDEO_FPS,
) -> AzimuthEvents:
    """Localise the events of one binaural clip and match them to the boxes.

    Args:
        audio: (2, T) binaural waveform [left, right].
        sample_rate: Hz.
        boxes: (FB, K, 4) [x0, y0, x1, y1] normalised to [0, 1], at ``box_fps``.
        box_mask: (FB, K) bool, True where the object is detected.
        box_fps: frame rate of ``boxes``.
        localiser: activity detector (its first event slot's activity is used); default :class:`IldLocaliser`.
        hop_s: event frame length in s (0.1).
        video_fps: rate of the video frames searched for the hit, ±1 frame (4).
    """
    audio, boxes, box_mask = torch.as_tensor(audio), torch.as_tensor(boxes), torch.as_tensor(box_mask).bool()
    _, active = (localiser or _ACTIVITY)(audio, sample_rate, hop_s)
    active = active[:, 0].bool().cpu()
    az = frame_azimuths(audio.cpu(), sample_rate, hop_s)[: active.shape[0]]
    hit, box_az = match_boxes(az, boxes.cpu(), box_mask.cpu(), box_fps, hop_s, video_fps)
    return AzimuthEvents(az, active, hit & active, box_az)


class BinauralStats(NamedTuple):
    """Sufficient statistics of one clip: TP, FN (binaural Spatial AV-Align), Σ|az error| (deg), matched events."""

    tp: int
    fn: int
    abs_err_sum: float
    n_matched: int


def binaural_stats(events: AzimuthEvents) -> BinauralStats:
    """Counts and error sums of one clip's :class:`AzimuthEvents`."""
    tp = int(events.hit.sum())
    matched = events.active & ~torch.isnan(events.box_azimuth)
    err = (events.azimuth - events.box_azimuth).abs()[matched]
    return BinauralStats(tp, int(events.active.sum()) - tp, float(err.sum()), int(matched.sum()))
