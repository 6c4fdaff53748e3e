"""Evaluation metrics (docs/metrics.md): E-L1, FAD, AV-Align, Spatial AV-Align, the centre-robust PanTracking,
EventTiming (onsets against the true event times), and binaural and FOA direction metrics (docs/spatial_audio.md).

Each metric is a ``torchmetrics.Metric`` whose states are sums reduced across ranks; the maths lives in
:mod:`stereosync.metrics.functional`. Networks (FAD embedder, learned localiser) are injected, never built
or downloaded by a metric, and never stored in a metric's ``state_dict``.
"""

from stereosync.metrics.av_align import AVAlign
from stereosync.metrics.binaural_align import BinauralAlign
from stereosync.metrics.collection import build_metrics
from stereosync.metrics.e_l1 import EL1
from stereosync.metrics.embedders import AudioEmbedder, StereoEmbedder
from stereosync.metrics.event_timing import EventTiming
from stereosync.metrics.fad import FAD
from stereosync.metrics.foa_doa import FoaDoaError
from stereosync.metrics.functional.localiser import EventLocaliser, IldLocaliser
from stereosync.metrics.functional.spatial_av_align import spatial_av_align_counts
from stereosync.metrics.pan_tracking import PanTracking
from stereosync.metrics.spatial_av_align import SpatialAVAlign

__all__ = [
    "AVAlign",
    "AudioEmbedder",
    "BinauralAlign",
    "EL1",
    "EventTiming",
    "EventLocaliser",
    "FAD",
    "FoaDoaError",
    "IldLocaliser",
    "PanTracking",
    "SpatialAVAlign",
    "StereoEmbedder",
    "build_metrics",
    "spatial_av_align_counts",
]
