"""The per-rank side of ``test_metrics_ddp.py``, in its own module so that spawned processes can import it.

(The test module itself is not importable by name in a child: the repository's ``tests`` folder is shadowed by a
``tests`` package that a dependency installs into site-packages.)
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from stereosync.metrics import FAD, build_metrics

SR, FPS, N_CLIPS, FEATURE_DIM = 16000, 10, 10, 4
RANK_BATCHES = {0: [slice(0, 4), slice(4, 6)], 1: [slice(6, 10)]}  # uneven shards and batch counts


class BandEmbedder(torch.nn.Module):
    """A parameter-free stand-in embedder: log energies of 4 frequency bands of the mono downmix."""

    name, sample_rate, dim, channel_handling = "bands", SR, 4, "mono"

    def forward(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        spec = torch.fft.rfft(audio.mean(dim=1)).abs().pow(2)  # (B, F)
        return torch.stack([b.mean(-1) for b in spec.tensor_split(4, dim=-1)], -1).add(1e-8).log()


def make_metrics():
    """Every metric: the factory's collection (with both FAD variants and AV-Align) and a features-only FAD."""
    return (
        build_metrics(SR, fad_embedder=BandEmbedder(), video_fps=FPS, spatial_formats=True),
        FAD(SR, feature_dim=FEATURE_DIM),
    )


def update(collection, fad_features, data: dict, sl: slice) -> None:
    keys = ("preds", "target", "boxes", "box_mask", "frames", "binaural", "foa", "events", "events_mask", "has_events")
    collection.update(**{k: data[k][sl] for k in keys})
    fad_features.update(data["feat_gen"][sl], data["feat_ref"][sl])


def results(collection, fad_features) -> dict[str, float]:
    out = {k: float(v) for k, v in collection.compute().items()}
    out["fad_features"] = float(fad_features.compute())
    return out


def run(rank: int, world: int, port: int, data_path: str, out_dir: str) -> None:
    """One rank: update on its shard of the data, compute (synced by torchmetrics), save the results."""
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        data = torch.load(data_path, weights_only=True)
        collection, fad_features = make_metrics()
        for sl in RANK_BATCHES[rank]:
            update(collection, fad_features, data, sl)
        torch.save(results(collection, fad_features), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()
