"""Event timing against the true event times, as a DDP-correct ``torchmetrics.Metric``.

The maths (onset detector, one-to-one matching) lives in :mod:`stereosync.metrics.functional.event_timing`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torchmetrics import Metric

from stereosync.metrics.functional.event_timing import event_timing_counts

log = logging.getLogger(__name__)


class EventTiming(Metric):
    """Footstep onsets of the generated audio against the true event times (schema member ``events``).

    Per clip the onsets of ``preds`` (:func:`~stereosync.metrics.functional.event_timing.step_onsets`) are
    matched one to one to the true onsets within ±``frames`` video frames each. Clips without ground truth
    (``has_events`` False, shards older than schema version 3) are skipped; a clip whose ground truth has no
    event still counts its detections as false positives.

    ``compute()`` returns (empty when no clip with ground truth was added):

    - ``event_f1_<ms>ms`` per tolerance: 2·matched / (detected + true); 1 when both are empty;
    - ``event_offset_ms``: mean |detected − true| of the pairs matched at the widest tolerance, ms;
    - ``event_early`` / ``event_late``: shares of those pairs more than ``early_late_ms`` early / late.

    States (summed across ranks): clip, detection and event counts, matches per tolerance, Σ|offset| (float64,
    s), early and late counts.

    Args:
        sample_rate: rate of ``preds`` in Hz.
        video_fps: frame rate defining the tolerances.
        frames: tolerances in video frames (default ±1 and ±2 frames: 33 and 67 ms at 30 fps).
        early_late_ms: dead zone of the early/late shares, ms (about the detector's own mean error on clean
            audio, 4 ms, so that the shares measure the generator, not the detector).
        **kwargs: ``torchmetrics.Metric`` options.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        sample_rate: int,
        video_fps: float = 30.0,
        frames: tuple[int, ...] = (1, 2),
        early_late_ms: float = 5.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not frames:
            raise ValueError("EventTiming needs at least one tolerance")
        self.sample_rate = sample_rate
        self.tolerances = tuple(sorted(f / video_fps for f in frames))
        self.early_late = early_late_ms / 1000.0
        for name in ("n_clips", "n_detected", "n_reference", "early", "late", "matched_wide"):
            self.add_state(name, torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("matched", torch.zeros(len(self.tolerances), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("abs_offset_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(
        self,
        preds: torch.Tensor,
        events: torch.Tensor | None = None,
        events_mask: torch.Tensor | None = None,
        has_events: torch.Tensor | None = None,
    ) -> None:
        """Add a batch; without ``events`` (older shards) nothing is added.

        Args:
            preds: (B, C, T) audio at ``sample_rate``.
            events: (B, Emax, 2) [onset in s from the clip start, object index], zero-padded.
            events_mask: (B, Emax) bool, True for real events (default: every row).
            has_events: (B,) bool, False for a clip without ground truth (default: every clip has it).
        """
        if events is None:
            return
        b = preds.shape[0]
        mask = torch.ones(events.shape[:2], dtype=torch.bool) if events_mask is None else events_mask.bool()
        has = torch.ones(b, dtype=torch.bool) if has_events is None else has_events.bool()
        audio, times = preds.detach().float().cpu().numpy(), events[..., 0].detach().double().cpu().numpy()
        mask, has = mask.cpu().numpy(), has.cpu().numpy()
        for i in range(b):
            if not has[i]:
                continue
            c = event_timing_counts(audio[i], self.sample_rate, times[i][mask[i]], self.tolerances, self.early_late)
            self.n_clips += 1
            self.n_detected += int(c["n_detected"])
            self.n_reference += int(c["n_reference"])
            for j in range(len(self.tolerances)):
                self.matched[j] += int(c[f"matched@{j}"])
            self.abs_offset_sum += c["abs_offset_sum"]
            self.early += int(c["early"])
            self.late += int(c["late"])
            self.matched_wide += int(c["matched_wide"])

    def compute(self) -> dict[str, torch.Tensor]:
        """The event-timing values (float64 scalars); an empty dict when no clip carried events."""
        if int(self.n_clips) == 0:
            log.info("EventTiming: no clip carried events; no event timing to report")
            return {}
        total = int(self.n_detected) + int(self.n_reference)
        out = {}
        for tol, m in zip(self.tolerances, self.matched):
            out[f"event_f1_{round(tol * 1000)}ms"] = 2.0 * int(m) / total if total else 1.0
        pairs = int(self.matched_wide)
        out["event_offset_ms"] = 1000.0 * float(self.abs_offset_sum) / pairs if pairs else math.nan
        out["event_early"] = int(self.early) / pairs if pairs else math.nan
        out["event_late"] = int(self.late) / pairs if pairs else math.nan
        return {k: torch.tensor(v, dtype=torch.float64, device=self.n_clips.device) for k, v in out.items()}
