"""Writes what ``python train.py test`` generated: wavs, per-clip metrics and the aggregate ``metrics.json``."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np

from stereosync.metrics.functional import spatial_av_align_score

log = logging.getLogger(__name__)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write (C, T) float audio in [-1, 1] as 16-bit PCM."""
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.clip(audio.T, -1, 1), sample_rate, subtype="PCM_16")


class TestOutputWriter(pl.Callback):
    """After ``test``: ``<dir>/wav/<key>.wav`` (generated), ``<key>.ref.wav`` (ground truth), ``clips.csv``
    (per-clip values, one file per rank) and ``metrics.json`` (aggregate metrics + per-clip rows, rank 0).

    Args:
        output_dir: folder; default ``<trainer.log_dir>/test``.
        write_wavs: write the audio (off: metrics only).
    """

    def __init__(self, output_dir: str | None = None, write_wavs: bool = True):
        super().__init__()
        self.output_dir, self.write_wavs = output_dir, write_wavs
        self.rows: list[dict[str, Any]] = []

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # trainer.log_dir is a collective under DDP: resolve it once here, where every rank calls it together.
        self.folder = Path(self.output_dir or Path(trainer.log_dir or trainer.default_root_dir) / "test")
        self.rows = []

    def on_test_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not isinstance(outputs, dict) or "clips" not in outputs:
            return
        folder = self.folder
        for i, clip in enumerate(outputs["clips"]):
            key = str(clip["key"]).replace("/", "_")
            if self.write_wavs:
                sr = outputs["sample_rate"]
                write_wav(folder / "wav" / f"{key}.wav", outputs["generated"][i].float().cpu().numpy(), sr)
                write_wav(folder / "wav" / f"{key}.ref.wav", outputs["target"][i].float().cpu().numpy(), sr)
            self.rows.append(clip)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        rank = trainer.global_rank
        if self.rows:
            with open(folder / f"clips_rank{rank}.csv", "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(self.rows[0]))
                writer.writeheader()
                writer.writerows(self.rows)
        if rank != 0:
            return
        aggregate = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        tp = sum(r["spatial_tp_reference"] for r in self.rows)
        fn = sum(r["spatial_fn_reference"] for r in self.rows)
        report = {
            "metrics": aggregate,
            "reference_spatial_av_align_rank0": spatial_av_align_score(tp, fn) if tp + fn else None,
            "clips_rank0": self.rows,
            "sample_rate": int(pl_module.backbone.sample_rate),
            "sampler": vars(pl_module.sampler),
            "ckpt_path": trainer.ckpt_path or getattr(pl_module, "weights_file", None),
        }
        (folder / "metrics.json").write_text(json.dumps(report, indent=1, default=str))
        log.info("test outputs written to %s: %s", folder, aggregate)
