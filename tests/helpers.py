"""Plain helpers shared by tests (importable: `tests/` is on pytest's pythonpath)."""

from __future__ import annotations

import numpy as np

from stereosync.data.schema import make_meta


def good_sample(key: str = "clip_000", sr: int = 16000, k: int = 1) -> dict:
    rng = np.random.default_rng(0)
    return {
        "__key__": key,
        "json": make_meta("video.mp4", 0.0, sample_rate=sr),
        "audio": rng.uniform(-1, 1, (2, 2 * sr)).astype(np.float32),
        "depth": rng.uniform(0, 1, (8, 9, 16)).astype(np.float32),
        "boxes": np.tile(np.array([0.1, 0.2, 0.3, 0.9], np.float32), (60, k, 1)),
        "box_mask": np.ones((60, k), bool),
        "clap": rng.normal(size=512).astype(np.float32),
    }
