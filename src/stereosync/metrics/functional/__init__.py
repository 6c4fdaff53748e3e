"""Pure metric functions (no state, no network): the maths behind :mod:`stereosync.metrics`."""

from stereosync.metrics.functional.av_align import av_align, peaks_iou
from stereosync.metrics.functional.e_l1 import e_l1, e_l1_per_clip, frame_rms
from stereosync.metrics.functional.event_timing import match_events, step_onsets
from stereosync.metrics.functional.fad import fad_from_features, frechet_distance, gaussian_sums, mean_cov_from_sums
from stereosync.metrics.functional.localiser import EventLocaliser, IldLocaliser, pan_from_energies
from stereosync.metrics.functional.onsets import audio_onsets, envelope_onsets, onset_f1, onset_matches
from stereosync.metrics.functional.pan_tracking import PanTrackingStats, pan_tracking_stats
from stereosync.metrics.functional.spatial_av_align import spatial_av_align_counts, spatial_av_align_score

__all__ = [
    "EventLocaliser",
    "IldLocaliser",
    "PanTrackingStats",
    "audio_onsets",
    "av_align",
    "e_l1",
    "e_l1_per_clip",
    "envelope_onsets",
    "fad_from_features",
    "frame_rms",
    "frechet_distance",
    "gaussian_sums",
    "match_events",
    "mean_cov_from_sums",
    "onset_f1",
    "onset_matches",
    "pan_from_energies",
    "pan_tracking_stats",
    "peaks_iou",
    "spatial_av_align_counts",
    "spatial_av_align_score",
    "step_onsets",
]
