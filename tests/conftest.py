"""Shared fixtures. Everything runs offline on a CPU: tiny backbone, synthetic data made here."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # laion_clap / transformers would otherwise retry the hub

import pytest  # noqa: E402
import torch  # noqa: E402

TINY_SR = 16000


@pytest.fixture(scope="package")
def tiny_backbone():
    from stereosync.models.backbone import Backbone

    torch.manual_seed(0)
    return Backbone("tiny", latent_scale=10.0, activation_checkpointing=False)


def make_batch(
    batch_size: int = 2, seconds: float = 2.0, sample_rate: int = TINY_SR, objects: int = 2, seed: int = 0
) -> dict:
    """A random batch in the DataModule's format (shapes from the schema's defaults)."""
    g = torch.Generator().manual_seed(seed)
    n = int(seconds * sample_rate)
    return {
        "audio": torch.randn(batch_size, 2, n, generator=g) * 0.1,
        "depth": torch.rand(batch_size, int(4 * seconds), 36, 64, generator=g),
        "boxes": torch.rand(batch_size, int(30 * seconds), objects, 4, generator=g),
        "box_mask": torch.rand(batch_size, int(30 * seconds), objects, generator=g) > 0.2,
        "clap": torch.randn(batch_size, 512, generator=g),
        "seconds_start": torch.zeros(batch_size),
        "seconds_total": torch.full((batch_size,), seconds),
    }


@pytest.fixture
def tiny_batch():
    return make_batch()


@pytest.fixture(scope="package")
def synthetic_root(tmp_path_factory):
    """A small synthetic dataset at 16 kHz: 4 train scenes, 2 val, 2 test (6 s each → 3 chunks), with mp4s."""
    from stereosync.data.synthetic import write_synthetic_dataset

    root = tmp_path_factory.mktemp("synthetic")
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        write_synthetic_dataset(
            root,
            num_scenes=n,
            seed=1,
            split=split,
            sample_rate=TINY_SR,
            duration=6.0,
            samples_per_shard=2,
            progress=False,
        )
    return root
