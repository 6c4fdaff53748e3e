"""Centre-robust companions of Spatial AV-Align (docs/metrics.md; the project's own metric).

Spatial AV-Align is centre-biased: a sound mixed to the centre, x = 0.5, overlaps any box that reaches into
[0.5 − m, 0.5 + m]. Three numbers that a centred (or otherwise static) mix cannot game:

- **pan MAE**: mean |x̂ − c| over active events that have a box, where x̂ is the event's estimated position and
  c the centre of the nearest present box (nearest in position; with one tracked object, its centre) in the
  box frame nearest to the event's time. Pooled over events of all clips. Lower is better.
- **pan correlation**: per clip, Pearson correlation between x̂ and c over those events; a clip counts only if
  the box moves (std of c ≥ ``min_box_std``) and has ≥ ``min_events`` events; a constant x̂ scores 0. Mean over
  counted clips. 1 = the stereo image follows the object.
- **per-source pan correlation**: per clip *and tracked object* k, Pearson correlation between x̂ and k's centre
  over the events matched to k (nearest present box, as for pan MAE), where k's centre moves over those events
  (std ≥ ``min_box_std``) and they number ≥ ``min_events``. Mean over counted (clip, object) pairs. With two
  characters the per-clip correlation pools events of both, so it rewards an image that jumps between them as
  much as one that follows each; the per-source one asks whether the stereo image follows each character
  along its own path. With one tracked object the two are the same.
- **off-centre Spatial AV-Align**: Spatial AV-Align restricted to events whose ±1-frame box window holds at
  least one box and no box that overlaps the centre zone [0.5 − m, 0.5 + m]. There a centred sound can never
  score, so the restricted score measures real localisation.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from stereosync.metrics.functional.localiser import EventLocaliser
from stereosync.metrics.functional.spatial_av_align import HOP_S, MARGIN, VIDEO_FPS, spatial_events

MIN_BOX_STD = 0.05
MIN_EVENTS = 3


class PanTrackingStats(NamedTuple):
    """Sufficient statistics of one clip.

    Attributes:
        abs_err_sum: Σ|x̂ − c| over matched events (frame widths).
        n_events: number of matched events.
        corr: Pearson correlation of x̂ and c; NaN if the clip does not qualify (static box, too few events).
        offcentre_tp: true positives among off-centre events.
        offcentre_fn: false negatives among off-centre events.
        source_corr_sum: Σ per-source correlations over the clip's counted objects.
        n_source_corr: number of counted objects.
    """

    abs_err_sum: float
    n_events: int
    corr: float
    offcentre_tp: int
    offcentre_fn: int
    source_corr_sum: float = 0.0
    n_source_corr: int = 0


def box_centres(
    n_frames: int, boxes: torch.Tensor, box_mask: torch.Tensor, box_fps: float, hop_s: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal box centres in the box frame nearest to each audio frame's centre.

    Args:
        n_frames: J audio frames of ``hop_s`` seconds.
        boxes: (FB, K, 4) normalised [x0, y0, x1, y1] at ``box_fps``.
        box_mask: (FB, K) bool.
        box_fps: frame rate of ``boxes``.
        hop_s: audio frame length in seconds.

    Returns:
        centres (J, K) in frame widths, present (J, K) bool (False past the last box frame).
    """
    fb, k = box_mask.shape
    t = (torch.arange(n_frames, device=boxes.device, dtype=torch.float64) + 0.5) * hop_s
    idx = torch.floor(t * box_fps + 0.5).long()
    inside = (idx < fb).unsqueeze(-1)
    idx = idx.clamp(0, max(fb - 1, 0))
    if fb == 0:
        return boxes.new_zeros(n_frames, k), torch.zeros(n_frames, k, dtype=torch.bool, device=boxes.device)
    centres = (boxes[idx, :, 0] + boxes[idx, :, 2]) / 2
    return centres, box_mask[idx].bool() & inside


def _pearson(x: torch.Tensor, y: torch.Tensor) -> float:
    """Pearson correlation; 0 when x is constant (a static estimate does not track)."""
    xc, yc = x - x.mean(), y - y.mean()
    sx, sy = xc.pow(2).sum().sqrt(), yc.pow(2).sum().sqrt()
    return 0.0 if float(sx) < 1e-9 else float((xc * yc).sum() / (sx * sy))


def pan_tracking_stats(
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
    min_box_std: float = MIN_BOX_STD,
    min_events: int = MIN_EVENTS,
) -> PanTrackingStats:
    """Companion statistics of one clip.

    Args:
        audio: (2, T) stereo waveform (L, R).
        sample_rate: Hz.
        boxes: (FB, K, 4) [x0, y0, x1, y1] normalised to [0, 1], at ``box_fps``.
        box_mask: (FB, K) bool, True where detected.
        box_fps: frame rate of ``boxes``.
        localiser: as in :func:`spatial_av_align_counts` (default: model-free ILD localiser).
        margin: Spatial AV-Align margin and half-width of the centre zone, in frame widths (40/256).
        hop_s: event frame length in seconds.
        video_fps: rate of the video frames searched for the off-centre score.
        min_box_std: a clip enters the correlation only if its box centre's std (frame widths) reaches this.
        min_events: ... and it has at least this many matched events.

    Returns:
        :class:`PanTrackingStats`.
    """
    audio, boxes, box_mask = torch.as_tensor(audio), torch.as_tensor(boxes).double(), torch.as_tensor(box_mask)
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
    centres, present = box_centres(ev.positions.shape[0], boxes, box_mask, box_fps, hop_s)  # (J, K)
    pos = ev.positions.double().unsqueeze(-1)  # (J, E, 1)
    dist = (pos - centres.unsqueeze(1)).abs().masked_fill(~present.unsqueeze(1), float("inf"))  # (J, E, K)
    err, nearest = dist.min(dim=-1)  # (J, E)
    matched = ev.active & torch.isfinite(err)
    x_hat = ev.positions.double()[matched]
    c = centres.unsqueeze(1).expand(-1, pos.shape[1], -1).gather(-1, nearest.unsqueeze(-1)).squeeze(-1)[matched]
    qualifies = len(c) >= max(min_events, 2) and float(c.std()) >= min_box_std
    corr = _pearson(x_hat, c) if qualifies else float("nan")
    source_corrs = []
    for k in range(centres.shape[1]):
        mine = matched & (nearest == k)
        ck = centres[:, k].unsqueeze(1).expand_as(mine)[mine]
        if len(ck) >= max(min_events, 2) and float(ck.std()) >= min_box_std:
            source_corrs.append(_pearson(ev.positions.double()[mine], ck))

    centre_box = ev.box_present & (ev.box_x0 <= 0.5 + margin) & (ev.box_x1 >= 0.5 - margin)  # (J, W)
    off_centre = ev.box_present.any(dim=-1) & ~centre_box.any(dim=-1)  # (J,)
    events = ev.active & off_centre.unsqueeze(-1)
    tp = int((ev.hit & events).sum())
    return PanTrackingStats(
        float(err[matched].sum()), int(matched.sum()), corr, tp, int(events.sum()) - tp,
        float(sum(source_corrs)), len(source_corrs),
    )  # fmt: skip
