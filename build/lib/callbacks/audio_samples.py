"""Every N training steps (rank 0): generate a few validation clips and log them to TensorBoard.

Logged per clip: the generated and reference audio, the generated clip's L/R spectrograms (time and frequency
axes, dB colour bar) and a plot of the estimated pan (inverse constant-power law of the inter-channel level
difference, 0.1-s frames) of the generated and the reference audio against each tracked box centre over time —
the picture of what Spatial AV-Align scores. The figures come from :mod:`stereosync.plots` (the demo shows the
same ones). Runs on a CPU; with a logger other
than TensorBoard the images and wavs are written under ``<log_dir>/samples`` instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from stereosync import plots

log = logging.getLogger(__name__)


def pan_track(
    audio: torch.Tensor, boxes: torch.Tensor, box_mask: torch.Tensor, sample_rate: int, hop_s: float = 0.1
) -> dict[str, np.ndarray]:
    """Per 0.1-s frame: time (s), estimated pan in [0, 1] (NaN where inactive) and the first object's box centre
    (NaN if absent).

    Args:
        audio: (2, T) stereo clip.
        boxes: (FB, K, 4) boxes at 30 fps; box_mask: (FB, K).
        sample_rate: Hz.
    """
    track = plots.pan_track(audio, sample_rate, hop_s)
    return track | {"box": plots.box_tracks(boxes, box_mask, len(track["time"]), hop_s)[:, 0]}


def add_stereo_audio(writer: Any, tag: str, audio: torch.Tensor, step: int, sample_rate: int) -> None:
    """Log (2, T) audio as one stereo TensorBoard audio summary (``SummaryWriter.add_audio`` is mono only)."""
    import io

    import soundfile
    from tensorboard.compat.proto.summary_pb2 import Summary

    buf = io.BytesIO()
    soundfile.write(buf, audio.float().clamp(-1, 1).T.numpy(), sample_rate, format="WAV", subtype="PCM_16")
    value = Summary.Audio(
        sample_rate=sample_rate,
        num_channels=2,
        length_frames=audio.shape[-1],
        encoded_audio_string=buf.getvalue(),
        content_type="audio/wav",
    )
    writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, audio=value)]), step)


class AudioSampleLogger(pl.Callback):
    """Log generated validation clips every ``every_n_steps`` optimiser steps.

    Args:
        every_n_steps: steps between two logs.
        num_clips: clips per log (from the first validation batch).
    """

    def __init__(self, every_n_steps: int = 1000, num_clips: int = 2):
        super().__init__()
        self.every_n_steps, self.num_clips = every_n_steps, num_clips
        self._batch: dict[str, Any] | None = None

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._batch is None and batch_idx == 0:
            n = self.num_clips
            self._batch = {
                k: (v[:n].detach().clone() if torch.is_tensor(v) else v[:n]) for k, v in batch.items() if k != "skipped"
            }

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or step == 0 or step % self.every_n_steps:
            return
        sample = (
            self._batch
            if self._batch is not None
            else {
                k: (v[: self.num_clips] if torch.is_tensor(v) or isinstance(v, list) else v)
                for k, v in batch.items()
                if k != "skipped"
            }
        )
        self.log_samples(trainer, pl_module, sample, step)

    @torch.no_grad()
    def log_samples(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: dict, step: int) -> None:
        was_training = pl_module.training
        pl_module.eval()
        batch = {k: (v.to(pl_module.device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        generated = pl_module.generate(batch, pl_module.clip_seeds(batch["__key__"])).cpu()
        pl_module.train(was_training)
        sr = pl_module.backbone.sample_rate
        writer = getattr(trainer.logger, "experiment", None)
        for i, key in enumerate(batch["__key__"]):
            reference = batch["audio"][i].cpu()
            fig = plots.pan_figure(
                generated[i], batch["boxes"][i], batch["box_mask"][i], sr, reference, f"{key} @ step {step}"
            )
            spec = plots.spectrogram_figure(generated[i], sr, f"generated {key} @ step {step}")
            if writer is not None and hasattr(writer, "add_audio"):
                add_stereo_audio(writer, f"samples/{i}/generated", generated[i], step, sr)
                add_stereo_audio(writer, f"samples/{i}/reference", batch["audio"][i].cpu(), step, sr)
                writer.add_figure(f"samples/{i}/spectrogram_LR", spec, step)
                writer.add_figure(f"samples/{i}/pan_vs_box", fig, step)
            else:
                # rank 0 only: trainer.log_dir would be a collective under DDP, the logger's own is not
                base = getattr(trainer.logger, "log_dir", None) or trainer.default_root_dir
                folder = Path(base) / "samples" / f"step{step:07d}"
                folder.mkdir(parents=True, exist_ok=True)
                fig.savefig(folder / f"{i}_pan_vs_box.png")
                spec.savefig(folder / f"{i}_spectrogram_LR.png")
                import matplotlib.pyplot as plt

                plt.close(fig)
                plt.close(spec)
                from callbacks.test_writer import write_wav

                write_wav(folder / f"{i}_generated.wav", generated[i].numpy(), sr)
        log.info("logged %d generated samples at step %d", len(batch["__key__"]), step)
