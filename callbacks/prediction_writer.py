"""Writes what ``python train.py predict`` generated: per video a stereo wav and a video file with that audio.

Each video is finished as soon as its last chunk is generated (batches never mix videos and come in order),
so a later failure loses nothing already written. A failure of one video (extraction, generation, writing the
wav, muxing) becomes a line of ``failures.jsonl`` and the next video goes on; docs/outputs.md has the rules.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np

from callbacks.prediction_jobs import FailureFile, VideoJob

log = logging.getLogger(__name__)


def join_chunks(
    chunks: list[tuple[float, np.ndarray]], sample_rate: int, duration: float, fade_seconds: float
) -> np.ndarray:
    """Place generated chunks on the video's time axis, cross-fading where they overlap (whole arrays in memory:
    the reference for :class:`stereosync.stream_join.StreamingJoin`, which the writer uses).

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
    """After each video of ``predict``: ``<dir>/<video>.wav`` (stereo, 24-bit, ``output_sample_rate``) and
    ``<dir>/<video>.mp4`` (or ``.mov``/``.mkv``, see :mod:`stereosync.output_video`) with that audio;
    ``<video>`` keeps the input's relative path. With ``data.output_format`` ``binaural`` the audio is binaural;
    with ``foa`` the wav is ambiX and the video's 4-channel track is tagged by an SA3D box (mp4/mov).

    A video that fails at any stage is a line of ``<dir>/failures.jsonl`` and the next one goes on. At the
    end, :attr:`summary` is ``{"done", "failed", "seconds", "folder", "failures"}`` (the failures file, or
    None when nothing failed); ``python train.py predict`` exits with status 1 when ``failed`` > 0.

    Once written, a batch's audio leaves the predictions ``trainer.predict`` collects (the files hold it), so
    memory does not grow with the length of the videos.

    Args:
        output_dir: folder; default ``<trainer.log_dir>/predict``.
        output_sample_rate: rate of the written audio (generated audio is resampled; 44.1 kHz like SAO).
        fade_seconds: equal-power fade at chunk boundaries.
    """

    def __init__(self, output_dir: str | None = None, output_sample_rate: int = 44100, fade_seconds: float = 0.02):
        super().__init__()
        self.output_dir, self.output_sample_rate, self.fade_seconds = output_dir, output_sample_rate, fade_seconds
        self.summary: dict[str, Any] | None = None

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from stereosync.output_video import check_audio_codec

        # trainer.log_dir is a collective under DDP: resolve it once, where every rank calls it together.
        self.folder = Path(self.output_dir or Path(trainer.log_dir or trainer.default_root_dir) / "predict")
        datamodule = getattr(trainer, "datamodule", None)
        hparams = getattr(datamodule, "hparams", None) or {}
        self.audio_codec = str(hparams.get("output_audio_codec", "auto"))
        self.format = str(hparams.get("output_format", "stereo"))
        self.generated = str(getattr(pl_module, "output_format", "stereo"))  # binaural: the end-to-end route
        if self.generated != "stereo" and self.format != self.generated:
            raise ValueError(
                f"data.output_format={self.format} but the model generates {self.generated} audio (its backbone's "
                f"latent): set data.output_format={self.generated}, or predict {self.format} with a stereo model"
            )
        check_audio_codec(self.audio_codec, ambisonic=self.format == "foa")
        sources = getattr(datamodule, "predict_sources", None)
        self.names = output_names(list(sources)) if sources else {}
        self.failures = FailureFile(self.folder / "failures.jsonl")
        self.current: VideoJob | None = None
        self.done, self.seconds, self.summary = 0, 0.0, None
        self.skipped = self._extraction_failures(getattr(datamodule, "predict_features_dir", None))

    def _extraction_failures(self, features: Path | None) -> set[str]:
        """Record the videos the extraction could not use (its ``failures-*.jsonl``); returns their keys."""
        keys: set[str] = set()
        for manifest in sorted(Path(features).glob("failures-*.jsonl")) if features else []:
            for line in manifest.read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                if rec.get("fatal", True) and rec.get("video") not in keys:  # partial videos still get outputs
                    keys.add(rec.get("video"))
                    self.failures.add(str(rec.get("path")), "extract", f"{rec.get('error')}: {rec.get('message')}")
        return keys

    def on_predict_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        meta = outputs["meta"]
        source = str(meta[0]["source"])
        if self.current is None or self.current.source != source:  # the previous video is complete
            self._finish()
            self._start(source, str(meta[0].get("path", source)))
        job = self.current
        if job.failed:
            return
        if "error" in outputs:
            job.fail("generate", f"{outputs['error']} (samples {', '.join(map(str, outputs.get('keys', [])))})")
            return
        import torchaudio.functional as AF

        audio = AF.resample(outputs["generated"].float(), outputs["sample_rate"], self.output_sample_rate).numpy()
        if self.format != self.generated:  # a model's own binaural output is written as it is
            audio = self._spatialise(audio, batch, meta)
        job.add([float(m["start"]) for m in meta], audio)
        outputs["generated"] = outputs["generated"][..., :0]  # written: not kept in the returned predictions

    def _spatialise(self, audio: np.ndarray, batch: Any, meta: list[dict]) -> np.ndarray:
        """(B, 2, T) generated stereo → (B, C, T) binaural or FOA along each chunk's tracked boxes."""
        from stereosync.spatial.spatialise import spatialise

        boxes, mask = batch["boxes"].float().cpu().numpy(), batch["box_mask"].bool().cpu().numpy()
        return np.stack(
            [
                spatialise(clip, self.output_sample_rate, b, m, float(info.get("box_fps", 30.0)), self.format)
                for clip, b, m, info in zip(audio, boxes, mask, meta)
            ]
        )

    def _start(self, source: str, path: str) -> None:
        name = self.names.get(source) or output_names([source])[source]
        stem = self.folder / name.parent / name.stem
        self.current = VideoJob(
            source, path, stem, self.output_sample_rate, self.fade_seconds, self.failures, self.format
        )
        if source in self.skipped:  # its extraction failed part-way: recorded already, its chunks are dropped
            self.current.failed = True
        else:
            self.current.open()

    def _finish(self) -> None:
        job, self.current = self.current, None
        if job is None:
            return
        self.done += job.finish(self.audio_codec)
        self.seconds += job.seconds

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish()
        failed = self.failures.count
        self.summary = {
            "done": self.done,
            "failed": failed,
            "seconds": round(self.seconds, 3),
            "folder": str(self.folder),
            "failures": str(self.failures.path) if failed else None,
        }
        where = f"; failures listed in {self.failures.path}" if failed else ""
        (log.error if failed else log.info)(
            "predict: %d video(s) done, %d failed, %.1f s of audio written to %s%s",
            self.done, failed, self.seconds, self.folder, where,
        )  # fmt: skip

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """The run stops: the video in progress is incomplete, so its partial wav is removed."""
        job, self.current = getattr(self, "current", None), None
        if job is not None and job.join is not None and not job.failed:
            job.join.abort()
            job.wav.unlink(missing_ok=True)
