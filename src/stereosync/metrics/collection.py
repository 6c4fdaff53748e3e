"""The ``MetricCollection`` the LightningModule uses for ``val`` and ``test``."""

from __future__ import annotations

import logging

import torch
from torchmetrics import Metric, MetricCollection

from stereosync.metrics.av_align import AVAlign
from stereosync.metrics.binaural_align import BinauralAlign
from stereosync.metrics.e_l1 import EL1
from stereosync.metrics.embedders import StereoEmbedder
from stereosync.metrics.event_timing import EventTiming
from stereosync.metrics.fad import FAD
from stereosync.metrics.foa_doa import FoaDoaError
from stereosync.metrics.functional.localiser import EventLocaliser
from stereosync.metrics.pan_tracking import PanTracking
from stereosync.metrics.spatial_av_align import SpatialAVAlign

log = logging.getLogger(__name__)

SPATIAL_FORMAT_KEYS = ("binaural_spatial_av_align", "azimuth_mae", "foa_doa_error")
"""Keys of the binaural and FOA metrics (``spatial_formats=True``)."""


def build_metrics(
    sample_rate: int,
    fad_embedder: torch.nn.Module | None = None,
    *,
    fad_stereo: bool = True,
    box_fps: float = 30.0,
    video_fps: float | None = None,
    localiser: EventLocaliser | None = None,
    prefix: str | None = None,
    spatial_formats: bool = False,
) -> MetricCollection:
    """All evaluation metrics in one collection.

    Update it with keyword arguments only (``MetricCollection`` hands each metric the ones its ``update``
    names): ``preds`` (B, 2, T) generated audio, ``target`` (B, 2, T) reference audio, ``boxes`` (B, FB, K, 4),
    ``box_mask`` (B, FB, K), ``frames`` (B, F, H, W, 3) uint8 when ``video_fps`` is set, where the batch carries
    the true event times ``events`` (B, E, 2), ``events_mask`` (B, E), ``has_events`` (B,), and with
    ``spatial_formats`` optionally ``binaural`` (B, 2, T) and ``foa`` (B, 4, T) (docs/spatial_audio.md). ``compute()``
    returns a flat dict; log it with ``log_dict(collection.compute())`` (``PanTracking`` yields three values).

    Args:
        sample_rate: rate of ``preds``/``target`` in Hz.
        fad_embedder: mono embedder for FAD (e.g. ``ClapAudioEncoder(checkpoint)``); ``None`` leaves FAD out,
            since a metric never builds or downloads a network itself.
        fad_stereo: also report the stereo-aware FAD (L and R embedded separately, concatenated).
        box_fps: frame rate of ``boxes``, also the video frame that the event-timing tolerances count in.
        video_fps: frame rate of ``frames``; ``None`` leaves AV-Align out (the shards carry no frames).
        localiser: event localiser for the spatial metrics (default model-free ILD).
        prefix: key prefix, e.g. ``"val/"``.
        spatial_formats: also score binaural and FOA audio where a batch has them (keys
            ``binaural_spatial_av_align``, ``azimuth_mae``, ``foa_doa_error``; NaN when no batch had them).

    Returns:
        A ``MetricCollection`` (compute groups off: the metrics share no state) with keys ``e_l1``,
        ``spatial_av_align``, ``pan_tracking``, ``event_timing`` (its values only where some clip carried
        ``events``), optionally ``av_align`` and one key per FAD variant (its ``report_name``).
    """
    metrics: dict[str, Metric] = {
        "e_l1": EL1(sample_rate),
        "spatial_av_align": SpatialAVAlign(sample_rate, box_fps=box_fps, localiser=localiser),
        "pan_tracking": PanTracking(sample_rate, box_fps=box_fps, localiser=localiser),
        "event_timing": EventTiming(sample_rate, video_fps=box_fps),
    }
    if spatial_formats:
        metrics["binaural"] = BinauralAlign(sample_rate, box_fps=box_fps, localiser=localiser)
        metrics["foa_doa_error"] = FoaDoaError(sample_rate, box_fps=box_fps, localiser=localiser)
    if video_fps is not None:
        metrics["av_align"] = AVAlign(sample_rate, video_fps=video_fps)
    if fad_embedder is None:
        log.info("build_metrics: no FAD embedder given, FAD is not computed")
    else:
        variants = [fad_embedder, StereoEmbedder(fad_embedder)] if fad_stereo else [fad_embedder]
        for embedder in variants:
            fad = FAD(sample_rate, embedder=embedder)
            metrics[fad.report_name] = fad
    return MetricCollection(metrics, prefix=prefix, compute_groups=False)
