"""The factory's MetricCollection: keys, keyword routing, and no network weights in its state."""

from __future__ import annotations

import math
import warnings

import torch

from stereosync.metrics import build_metrics


def test_collection_routes_keyword_arguments(signals):
    left = signals.pan(signals.noise_bursts(), 0.0)
    boxes, mask = signals.box_track(torch.full((60,), 0.15))
    collection = build_metrics(signals.sr, prefix="val/")
    # every metric receives only the keyword arguments its update names (preds/target, preds/boxes/box_mask);
    # without events EventTiming reports nothing
    collection.update(preds=left[None], target=left[None], boxes=boxes[None], box_mask=mask[None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pan_corr is undefined for a static box (NaN + warning)
        out = collection.compute()
    assert set(out) == {
        "val/e_l1",
        "val/spatial_av_align",
        "val/pan_mae",
        "val/pan_corr",
        "val/pan_corr_per_source",
        "val/spatial_av_align_offcentre",
    }
    assert float(out["val/e_l1"]) == 0.0 and float(out["val/spatial_av_align"]) == 1.0
    assert math.isnan(float(out["val/pan_corr"]))
    collection.reset()
    assert int(collection["spatial_av_align"].tp) == 0


def test_collection_holds_no_network_weights(clap_encoder):
    collection = build_metrics(44100, fad_embedder=clap_encoder, video_fps=30.0)
    assert set(collection.keys()) == {
        "e_l1",
        "spatial_av_align",
        "pan_tracking",
        "event_timing",
        "av_align",
        "fad_clap-htsat-tiny-fusion_48khz_mono",
        "fad_clap-htsat-tiny-fusion_48khz_lr-concat",
    }
    assert list(collection.parameters()) == [] and list(collection.buffers()) == []
    collection.persistent(True)
    n_values = sum(v.numel() for v in collection.state_dict().values())
    fad_sums = sum(2 * (d * d + d + 1) for d in (512, 1024))  # generated + reference: count, Σx, Σxxᵀ
    counters = 2 + 2 + 8 + 2 + 9  # E-L1, Spatial AV-Align, PanTracking, AV-Align, EventTiming
    assert n_values == fad_sums + counters  # the 33 M CLAP weights are nowhere
