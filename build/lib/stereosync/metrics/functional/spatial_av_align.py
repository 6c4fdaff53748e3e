"""Spatial AV-Align (SAVGBench, Shimada et al.; docs/metrics.md), the StereoSync paper's headline metric.

Every 0.1 s, each active sound event gets a horizontal position x (from an :class:`EventLocaliser`). The event
is a true positive if some box in the video frames within ±1 frame at 4 fps (±0.25 s) of the event overlaps
horizontally with [x − m, x + m], m = 40/256 of the frame width; otherwise a false negative.
Score = ΣTP / (ΣTP + ΣFN) pooled over all events of all clips.

Time alignment: audio frame j covers [j·0.1, (j+1)·0.1) s and is stamped at its centre; the nearest 4-fps
video frame k₀ and its neighbours k₀ ± 1 are searched; 4-fps frame k reads the box frame nearest to k/4 s.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch

from stereosync.metrics.functional.localiser import EventLocaliser, IldLocaliser

HOP_S = 0.1
VIDEO_FPS = 4.0
MARGIN = 40 / 256
_DEFAULT_LOCALISER = IldLocaliser()


class SpatialEvents(NamedTuple):
    """Per-event outcome of one clip (J audio frames, E event slots, W = 3·K boxes in each event's window).

    Attributes:
        positions: (J, E) estimated horizontal positions in [0, 1].
        active: (J, E) bool, the event exists.
        hit: (J, E) bool, active and overlapped by a window box (a true positive).
        box_x0: (J, W) left edges of the window boxes, normalised.
        box_x1: (J, W) right edges of the window boxes, normalised.
        box_present: (J, W) bool, the window box exists (detected and inside the clip).
    """

    positions: torch.Tensor
    active: torch.Tensor
    hit: torch.Tensor
    box_x0: torch.Tensor
    box_x1: torch.Tensor
    box_present: torch.Tensor


def _nearest_index(times: torch.Tensor, fps: float) -> torch.Tensor:
    """Index of the nearest frame at ``fps`` (halves round up) for times in seconds."""
    return torch.floor(times * fps + 0.5).long()


def window_boxes(
    n_frames: int, boxes: torch.Tensor, box_mask: torch.Tensor, box_fps: float, hop_s: float, video_fps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boxes visible within ±1 video frame (at ``video_fps``) of each audio frame's centre.

    Args:
        n_frames: J audio frames of ``hop_s`` seconds.
        boxes: (FB, K, 4) [x0, y0, x1, y1] normalised to [0, 1], at ``box_fps``.
        box_mask: (FB, K) bool, True where the object is detected.
        box_fps: frame rate of ``boxes``.
        hop_s: audio frame length in seconds.
        video_fps: rate of the video frames searched (4 fps in SAVGBench).

    Returns:
        x0 (J, 3K), x1 (J, 3K), present (J, 3K) bool.
    """
    fb, k = box_mask.shape
    if fb == 0:
        empty = boxes.new_zeros(n_frames, 3 * k)
        return empty, empty, torch.zeros(n_frames, 3 * k, dtype=torch.bool, device=boxes.device)
    centres = (torch.arange(n_frames, device=boxes.device, dtype=torch.float64) + 0.5) * hop_s
    vid = _nearest_index(centres, video_fps).unsqueeze(1) + torch.arange(-1, 2, device=boxes.device)  # (J, 3)
    box_frame = _nearest_index(vid.double() / video_fps, box_fps)  # (J, 3)
    inside = (vid >= 0) & (box_frame >= 0) & (box_frame < fb)
    idx = box_frame.clamp(0, fb - 1)
    present = (box_mask[idx].bool() & inside.unsqueeze(-1)).reshape(n_frames, 3 * k)
    sel = boxes[idx]  # (J, 3, K, 4)
    return sel[..., 0].reshape(n_frames, 3 * k), sel[..., 2].reshape(n_frames, 3 * k), present


def spatial_events(
    audio: torch.Tensor,
    sample_rate: int,
    boxes: torch.Tensor,
    box_mask: torch.Tensor,
    box_fps: float = 30.0,
    *,
    localiser: EventLocaliser | None = None,
    margin: float = MARGIN,
    hop_s: float = HOP_S,
    video_fps: float = VIDEO_FPS,
) -> SpatialEvents:
    """Localise the events of one clip and test each against the boxes. Arguments as :func:`spatial_av_align_counts`."""
    loc = localiser if localiser is not None else _DEFAULT_LOCALISER
    audio, boxes, box_mask = torch.as_tensor(audio), torch.as_tensor(boxes), torch.as_tensor(box_mask)
    positions, active = loc(audio, sample_rate, hop_s)  # (J, E)
    x0, x1, present = window_boxes(positions.shape[0], boxes, box_mask, box_fps, hop_s, video_fps)
    pos = positions.to(x0.dtype).unsqueeze(-1)  # (J, E, 1)
    overlap = (x0.unsqueeze(1) <= pos + margin) & (x1.unsqueeze(1) >= pos - margin) & present.unsqueeze(1)
    hit = active.bool() & overlap.any(dim=-1)
    return SpatialEvents(positions, active.bool(), hit, x0, x1, present)


def spatial_av_align_counts(
    audio: torch.Tensor,
    sample_rate: int,
    boxes: torch.Tensor,
    box_mask: torch.Tensor,
    box_fps: float = 30.0,
    *,
    localiser: EventLocaliser | None = None,
    margin: float = MARGIN,
    hop_s: float = HOP_S,
    video_fps: float = VIDEO_FPS,
) -> tuple[int, int]:
    """True positives and false negatives of one clip.

    Args:
        audio: (2, T) stereo waveform (L, R).
        sample_rate: Hz.
        boxes: (FB, K, 4) [x0, y0, x1, y1] normalised to [0, 1] by the frame size, at ``box_fps``.
        box_mask: (FB, K) bool, True where the object is detected (masked boxes are ignored).
        box_fps: frame rate of ``boxes`` (30 in the shards).
        localiser: event localiser; default :class:`IldLocaliser` (model-free ILD + inverse panning law).
        margin: half-width of the event's horizontal interval, in frame widths (40/256).
        hop_s: event frame length in seconds (0.1).
        video_fps: rate of the video frames searched for boxes (4); ±1 of these frames around the event.

    Returns:
        (TP, FN) event counts; (0, 0) when the clip has no active event (e.g. silence).
    """
    ev = spatial_events(
        audio,
        sample_rate,
        boxes,
        box_mask,
        box_fps,
        localiser=localiser,
        margin=margin,
        hop_s=hop_s,
        video_fps=video_fps,
    )
    tp = int(ev.hit.sum())
    return tp, int(ev.active.sum()) - tp


def spatial_av_align_score(tp: int | torch.Tensor, fn: int | torch.Tensor) -> float:
    """ΣTP / (ΣTP + ΣFN); NaN with a warning when there is no event at all (nothing to score)."""
    tp, fn = float(tp), float(fn)
    if tp + fn == 0:
        warnings.warn("Spatial AV-Align: no sound events were detected; the score is undefined (NaN)", stacklevel=2)
        return math.nan
    return tp / (tp + fn)
