"""Every metric on 2 gloo processes (CPU) equals the single-process value on the concatenated data."""

from __future__ import annotations

import importlib
import math
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

N_CLIPS, FPS, SR, FEATURE_DIM = 10, 10, 16000, 4  # as in _metrics_ddp_worker


def _dataset(signals) -> dict[str, torch.Tensor]:
    """Ten 1-s clips: clicks over noise, panned statically or following the box; boxes with gaps; bursty videos."""
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    preds, target, boxes, masks, frames, events = [], [], [], [], [], []
    for i in range(N_CLIPS):
        bursts = sorted(rng.choice(np.arange(1, 9), size=3, replace=False).tolist())
        clicks = [b / FPS for b in bursts] if i % 2 else [0.15, 0.55]
        mono = torch.from_numpy(signals.click_track(clicks, 1.0, sr=SR, seed=i)[0] + 0.1 * rng.standard_normal(SR))
        centres = torch.linspace(*rng.uniform(0.1, 0.9, 2), 30)
        follow = torch.from_numpy(np.interp(t, np.arange(30) / 30, centres.numpy()))
        static = float(rng.uniform(0, 1))
        if i == N_CLIPS - 1:  # on rank 1 only: hard left, box on the right (off-centre misses)
            centres, static = torch.linspace(0.8, 0.9, 30), 0.0
        preds.append(signals.pan(mono, follow if i % 3 else static).float())
        target.append(signals.pan(torch.from_numpy(signals.click_track([0.3, 0.7], 1.0, sr=SR, seed=50 + i)[0]), 0.5))
        b, m = signals.box_track(centres, width=0.15)
        m[rng.random(30) < 0.2] = False
        boxes.append(b)
        masks.append(m)
        frames.append(torch.from_numpy(signals.motion_video(bursts, FPS, size=32, seed=i)))
        # true event times: on time, 15 ms after the clicks (audio early), 20 ms before (audio late); on rank 1
        # only, 45 ms before (matched at ±2 frames only)
        shift = -0.045 if i == N_CLIPS - 1 else (0.0, 0.015, -0.02)[i % 3]
        events.append([c + shift for c in clicks])
    width = max(len(e) for e in events)
    ev, ev_mask = torch.zeros(N_CLIPS, width, 2), torch.zeros(N_CLIPS, width, dtype=torch.bool)
    for i, e in enumerate(events):
        ev[i, : len(e), 0], ev_mask[i, : len(e)] = torch.tensor(e), True
    has_events = torch.ones(N_CLIPS, dtype=torch.bool)
    has_events[2] = False  # an older shard's clip: no ground truth, skipped
    g = torch.Generator().manual_seed(1)
    binaural, foa = _spatial(torch.stack(preds), torch.stack(boxes))
    return {
        "binaural": binaural,
        "foa": foa,
        "preds": torch.stack(preds),
        "target": torch.stack(target),
        "boxes": torch.stack(boxes),
        "box_mask": torch.stack(masks),
        "frames": torch.stack(frames),
        "events": ev,
        "events_mask": ev_mask,
        "has_events": has_events,
        "feat_gen": torch.randn(N_CLIPS, FEATURE_DIM, generator=g),
        "feat_ref": torch.randn(N_CLIPS, FEATURE_DIM, generator=g) * 0.5 + 1,
    }


def _spatial(preds: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Binaural (a delayed copy, ITD from the first box) and FOA (a plane wave) of each clip's mid signal."""
    from stereosync.spatial.ambisonics import encode_gains
    from stereosync.spatial.geometry import azimuth_from_x
    from stereosync.spatial.hrtf import fractional_delay

    binaural, foa = [], []
    for i, (clip, box) in enumerate(zip(preds.double().numpy(), boxes.double().numpy())):
        mid = clip.mean(axis=0, keepdims=True)
        az = float(azimuth_from_x(0.5 * (box[0, 0, 0] + box[0, 0, 2])))
        if i == N_CLIPS - 1:  # on rank 1 only: from the far left, box on the right (misses)
            az = 40.0
        right = fractional_delay(mid, np.array([az / 90 * 0.7e-3 * SR]), mid.shape[-1] + 20)[:, : mid.shape[-1]]
        binaural.append(np.concatenate([mid, right]))
        foa.append(encode_gains(az)[:, None] * mid)
    return torch.from_numpy(np.stack(binaural)).float(), torch.from_numpy(np.stack(foa)).float()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_and_single(signals, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    data = _dataset(signals)
    torch.save(data, tmp / "data.pt")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(Path(__file__).parent))  # spawned children inherit sys.path
        worker = importlib.import_module("_metrics_ddp_worker")
        assert (worker.N_CLIPS, worker.FPS, worker.SR, worker.FEATURE_DIM) == (N_CLIPS, FPS, SR, FEATURE_DIM)
        mp.spawn(worker.run, args=(2, _free_port(), str(tmp / "data.pt"), str(tmp)), nprocs=2, join=True)
    ranks = [torch.load(tmp / f"rank{r}.pt", weights_only=True) for r in range(2)]
    collection, fad_features = worker.make_metrics()
    worker.update(collection, fad_features, data, slice(0, N_CLIPS))  # one process, one batch
    shard0, shard0_fad = worker.make_metrics()
    worker.update(shard0, shard0_fad, data, slice(0, 6))  # what rank 0 would report without syncing
    return ranks, worker.results(collection, fad_features), worker.results(shard0, shard0_fad)


KEYS = [
    "e_l1",
    "av_align",
    "spatial_av_align",
    "pan_mae",
    "pan_corr",
    "pan_corr_per_source",
    "spatial_av_align_offcentre",
    "binaural_spatial_av_align",
    "azimuth_mae",
    "foa_doa_error",
    "fad_bands_16khz_mono",
    "fad_bands_16khz_lr-concat",
    "fad_features",
    "event_f1_33ms",
    "event_f1_67ms",
    "event_offset_ms",
    "event_early",
    "event_late",
]


@pytest.mark.ddp
@pytest.mark.parametrize("key", KEYS)
def test_two_process_value_equals_single_process(ddp_and_single, key):
    ranks, single, rank0_alone = ddp_and_single
    assert set(single) == set(KEYS)
    assert not math.isnan(single[key])
    assert rank0_alone[key] != pytest.approx(single[key], rel=1e-3)  # the shards differ: syncing matters
    for result in ranks:  # every rank computes the same, global value
        assert result[key] == pytest.approx(single[key], rel=1e-6, abs=1e-9)
