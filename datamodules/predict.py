"""Prediction inputs: new videos → features (the extraction pipeline) → batches, with optional references."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

log = logging.getLogger(__name__)


def extract_for_prediction(
    videos: str, out: Path, sample_rate: int, chunk_seconds: float, models: dict[str, Any]
) -> list[str]:
    """Run the extraction pipeline on ``videos`` (a file, folder or list file) into ``out``; returns its shards.

    Raises:
        ValueError: naming each video that could not be used (e.g. a silent video: the envelope comes from the
            video's own audio until an envelope predictor exists).
    """
    from stereosync.extract.decode import DecodeConfig
    from stereosync.extract.factory import ModelConfig, build_featurizer
    from stereosync.extract.pipeline import ExtractConfig, run_extraction

    inputs = videos
    if Path(videos).is_file() and Path(videos).suffix.lower() not in (".txt", ".lst"):
        out.mkdir(parents=True, exist_ok=True)
        inputs = str(out / "inputs.txt")
        Path(inputs).write_text(str(Path(videos).resolve()) + "\n")
    model_cfg = ModelConfig(**models)
    featurizer, names = build_featurizer(model_cfg)
    cfg = ExtractConfig(
        inputs=inputs,
        out=str(out),
        num_shards=1,
        shard_index=0,
        retry_failed=True,
        decode=DecodeConfig(sample_rate=sample_rate, chunk_seconds=chunk_seconds),
        extra_meta={"models": names},
    )
    run_extraction(cfg, featurizer)
    failures = [json.loads(line) for f in out.glob("failures-*.jsonl") for line in f.read_text().splitlines()]
    if failures:
        lines = "; ".join(f"{f.get('path')}: {f.get('error')}: {f.get('message')}" for f in failures)
        hint = (
            " (a silent video has no envelope source: StereoSync takes the envelope from the video's own "
            "audio; give it an audio track)"
            if any("udio" in str(f.get("error")) for f in failures)
            else ""
        )
        raise ValueError(f"predict: cannot use {len(failures)} video(s): {lines}{hint}")
    return sorted(str(p) for p in out.glob("shard-*.tar"))


class ReferenceOverride(IterableDataset):
    """Wraps a batch stream; replaces each batch's CLAP embedding and/or envelope source audio.

    Args:
        stream: the batch stream (batches carry ``meta`` with each chunk's ``start`` and ``duration``).
        clap_embedding: (512,) embedding of the CLAP reference audio, or None to keep the video's own.
        envelope_audio: (2, T) audio at the batch rate whose envelope replaces the video's, aligned to the
            video's time axis, or None.
        sample_rate: Hz of the batches.
    """

    def __init__(
        self,
        stream: IterableDataset,
        clap_embedding: np.ndarray | None,
        envelope_audio: np.ndarray | None,
        sample_rate: int,
    ):
        super().__init__()
        self.stream, self.clap, self.env, self.sample_rate = stream, clap_embedding, envelope_audio, sample_rate

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.stream:
            if self.clap is not None:
                batch["clap"] = torch.from_numpy(self.clap).float().expand_as(batch["clap"]).clone()
            if self.env is not None:
                batch["audio"] = torch.stack([self._segment(m, batch["audio"].shape[-1]) for m in batch["meta"]])
                batch.pop("envelope", None)
                batch.pop("envelope_latent", None)
            yield batch

    def _segment(self, meta: dict, length: int) -> torch.Tensor:
        a0 = int(round(float(meta["start"]) * self.sample_rate))
        seg = self.env[:, a0 : a0 + length]
        if seg.shape[1] < length:  # the reference is shorter than the video: silence after its end
            seg = np.pad(seg, ((0, 0), (0, length - seg.shape[1])))
        peak = float(np.abs(seg).max())
        return torch.from_numpy(seg / peak if peak > 1e-8 else seg).float()  # peak-normalised like training
