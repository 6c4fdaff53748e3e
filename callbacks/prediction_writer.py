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
    """Place generated chunks on the video's time axis.

    Chunks (start in s, (2, T) audio) do not overlap (extraction cuts the video into consecutive chunks), so
    each boundary gets an equal-power fade-out/fade-in of ``fade_seconds`` to avoid clicks. Time the chunks do
    not cover (the video's tail shorter than a chunk) stays silent.

    Returns:
        (2, round(duration × sample_rate)) float32.
    """
    out = np.zeros((2, int(round(duration * sample_rate))), np.float32)
    n_fade = int(round(fade_seconds * sample_rate))
    ordered = sorted(chunks, key=lambda c: c[0])
    for i, (start, audio) in enumerate(ordered):
        audio = audio.copy()
        if n_fade and i > 0:
            audio[:, :n_fade] *= np.sin(np.linspace(0, np.pi / 2, n_fade))
        if n_fade and i < len(ordered) - 1:
            audio[:, -n_fade:] *= np.cos(np.linspace(0, np.pi / 2, n_fade))
        a0 = int(round(start * sample_rate))
        end = min(out.shape[1], a0 + audio.shape[1])
        out[:, a0:end] += audio[:, : end - a0]
    return out


class PredictionWriter(pl.Callback):
    """After ``predict``: ``<dir>/<video>.wav`` and ``<dir>/<video>.mp4`` (the input's video stream, copied,
    with the generated audio), at ``output_sample_rate``.

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

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from stereosync.media import mux_audio, video_duration

        folder = self.folder
        for source, chunks in self.chunks.items():
            duration, _ = video_duration(source)
            audio = join_chunks(chunks, self.output_sample_rate, duration, self.fade_seconds)
            name = Path(source).stem
            write_wav(folder / f"{name}.wav", audio, self.output_sample_rate)
            mux_audio(source, audio, self.output_sample_rate, folder / f"{name}.mp4")
            log.info("predict: %s → %s (%d chunks, %.2f s)", source, folder / f"{name}.mp4", len(chunks), duration)
