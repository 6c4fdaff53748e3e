"""Writes what ``python train.py predict`` generated: per video a stereo wav and an mp4 with the audio muxed in."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np

from callbacks.test_writer import write_wav

log = logging.getLogger(__name__)


def join_chunks(
    chunks: list[tuple[float, np.ndarray]], sample_rate: int, duration: float, fade_seconds: float
) -> np.ndarray:
    """Place generated chunks on the video's time axis, cross-fading where they overlap.

    Chunks are (start in s, (2, T) audio). Where two chunks overlap, the earlier fades out and the later fades in
    over the whole overlap with equal-power (sine/cosine) ramps: independently generated chunks are
    uncorrelated, so their powers add to a constant. Chunks that only touch get a fade of ``fade_seconds`` on
    each side of the boundary, to avoid clicks. Audio past ``duration`` (the padded tail) is cut.

    Returns:
        (2, round(duration × sample_rate)) float32.
    """
    out = np.zeros((2, int(round(duration * sample_rate))), np.float32)
    n_fade = int(round(fade_seconds * sample_rate))
    ordered = sorted(chunks, key=lambda c: c[0])
    starts = [int(round(start * sample_rate)) for start, _ in ordered]
    for i, (_, audio) in enumerate(ordered):
        a0, n = starts[i], audio.shape[1]
        gain = np.ones(n, np.float32)
        if i > 0:
            ramp = min(n, starts[i - 1] + ordered[i - 1][1].shape[1] - a0)
            ramp = ramp if ramp > 0 else min(n, n_fade)
            gain[:ramp] *= np.sin(np.linspace(0, np.pi / 2, ramp))
        if i < len(ordered) - 1:
            ramp = min(n, a0 + n - starts[i + 1])
            ramp = ramp if ramp > 0 else min(n, n_fade)
            gain[n - ramp :] *= np.cos(np.linspace(0, np.pi / 2, ramp))
        end = min(out.shape[1], a0 + n)
        if end > a0:
            out[:, a0:end] += audio[:, : end - a0] * gain[: end - a0]
    return out


def output_names(sources: list[str]) -> dict[str, Path]:
    """Where each video's outputs go, relative to the output folder, so that no two collide.

    A source relative to its input folder or list file keeps that relative path; sources given by absolute
    path keep their path below the folder they all share (a single file: its name).
    """
    import os

    absolute = [s for s in sources if Path(s).is_absolute()]
    common = Path(os.path.commonpath(absolute)) if len(absolute) > 1 else None
    out = {}
    for s in sources:
        path = Path(s)
        if path.is_absolute():
            out[s] = path.relative_to(common) if common is not None and common != path else Path(path.name)
        else:
            out[s] = Path(*[p for p in path.parts if p not in ("..", ".")])
    return out


class PredictionWriter(pl.Callback):
    """After ``predict``: ``<dir>/<video>.wav`` and ``<dir>/<video>.mp4`` (the input's video stream, copied,
    with the generated audio), at ``output_sample_rate``; ``<video>`` keeps the input's relative path.

    Args:
        output_dir: folder; default ``<trainer.log_dir>/predict``.
        output_sample_rate: rate of the written audio (generated audio is resampled; 44.1 kHz like SAO).
        fade_seconds: equal-power fade at chunk boundaries.
    """

    def __init__(self, output_dir: str | None = None, output_sample_rate: int = 44100, fade_seconds: float = 0.02):
        super().__init__()
        self.output_dir, self.output_sample_rate, self.fade_seconds = output_dir, output_sample_rate, fade_seconds
        self.chunks: dict[str, list[tuple[float, np.ndarray]]] = defaultdict(list)

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # trainer.log_dir is a collective under DDP: resolve it once, where every rank calls it together.
        self.folder = Path(self.output_dir or Path(trainer.log_dir or trainer.default_root_dir) / "predict")
        self.chunks = defaultdict(list)
        self.paths: dict[str, str] = {}

    def on_predict_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        import torchaudio.functional as AF

        audio = AF.resample(outputs["generated"].float(), outputs["sample_rate"], self.output_sample_rate)
        for meta, clip in zip(outputs["meta"], audio):
            self.chunks[str(meta["source"])].append((float(meta["start"]), clip.numpy()))
            self.paths[str(meta["source"])] = str(meta.get("path", meta["source"]))

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from stereosync.media import mux_audio, video_duration

        folder = self.folder
        names = output_names(list(self.chunks))
        for source, chunks in self.chunks.items():
            path = self.paths.get(source, source)
            duration, _ = video_duration(path)
            audio = join_chunks(chunks, self.output_sample_rate, duration, self.fade_seconds)
            name = names[source]
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            write_wav(folder / name.with_suffix(".wav"), audio, self.output_sample_rate)
            mp4 = mux_audio(path, audio, self.output_sample_rate, folder / name.with_suffix(".mp4"))
            log.info("predict: %s → %s (%d chunks, %.2f s)", path, mp4, len(chunks), duration)
