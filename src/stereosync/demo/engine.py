"""The demo's generation: one video (+ an optional reference sound) → stereo wav, mp4 and figures.

It goes through the same seams as ``python train.py predict``: a ``ShardDataModule`` with the predict inputs
(``predict_videos``, ``clap_reference``, ``predict_models``, ``predict_dir``), a ``PredictionWriter`` and
``Trainer.predict``. The model is built once from a recipe (the packaged ``configs/tiny.yaml`` by default) and its
trainable weights are loaded from a Lightning checkpoint (``.ckpt``) or an exported file (``.safetensors``,
:mod:`stereosync.models.trainable_weights`; by default the recipe's ``shipped_weights``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "pkg://stereosync/configs/tiny.yaml"

Progress = Callable[[float, str], None]
"""``progress(fraction in [0, 1], description)``."""


@dataclass
class Result:
    """What one generation produced (``run``: its folder, with ``features/`` and ``out/``)."""

    mp4: Path | None  # the video file (.mp4/.mov/.mkv; for first-order ambisonics its track is SA3D-tagged)
    wav: Path
    audio: np.ndarray  # (C, T) float32 at ``sample_rate``: C = 2 (stereo, binaural) or 4 (FOA W, Y, Z, X)
    sample_rate: int
    duration: float
    boxes: torch.Tensor  # (FB, K, 4) at 30 fps over the whole video
    box_mask: torch.Tensor  # (FB, K)
    reference: np.ndarray | None  # the video's own audio (2, T) at ``sample_rate``, when it has a soundtrack
    run: Path


class _Collect(pl.Callback):
    """Collects each chunk's boxes (for the figures) and reports progress per chunk and per sampler step."""

    def __init__(self, progress: Progress, chunks: int):
        super().__init__()
        self.progress, self.chunks, self.done = progress, max(chunks, 1), 0
        self.boxes: list[tuple[float, torch.Tensor, torch.Tensor]] = []
        self.started: float | None = None

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        import time

        sampler = pl_module.sampler
        n = len(batch["__key__"])
        self.started = self.started or time.monotonic()

        def on_step(step: int, steps: int) -> None:
            done = self.done + n * step / steps
            frac = done / self.chunks
            last = min(self.done + n, self.chunks)
            text = f"generating audio: chunks {self.done + 1}-{last} of {self.chunks}, step {step}/{steps}"
            self.progress(0.3 + 0.6 * min(frac, 1.0), text + time_left(time.monotonic() - self.started, frac))

        sampler.on_step = on_step

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        for meta, boxes, mask in zip(batch["meta"], batch["boxes"], batch["box_mask"]):
            self.boxes.append((float(meta["start"]), boxes.cpu(), mask.cpu()))
        self.done += len(batch["__key__"])
        pl_module.sampler.on_step = None


def time_left(elapsed: float, fraction: float) -> str:
    """``", about 2 min 10 s left"`` from the time a stage has taken for ``fraction`` of its work (empty at first)."""
    if fraction < 0.02 or elapsed < 0.2:
        return ""
    left = round(elapsed * (1 - fraction) / fraction)
    if left >= 60:
        return f", about {left // 60} min {left % 60} s left"
    return f", about {left} s left" if left >= 1 else ", under a second left"


def extraction_progress(progress: Progress, chunks: int) -> Callable[[str, int], None]:
    """The extraction's per-chunk callback as the page's progress (5-30 %), with the time left."""
    import time

    started = time.monotonic()

    def on_chunks(key: str, written: int) -> None:
        frac = min(written / max(chunks, 1), 1.0)
        text = f"extracting features (depth, boxes, motion): chunk {written} of {chunks}"
        progress(0.05 + 0.25 * frac, text + time_left(time.monotonic() - started, frac))

    return on_chunks


def whole_video_boxes(
    chunks: list[tuple[float, torch.Tensor, torch.Tensor]], duration: float, fps: float = 30.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunks' (start, boxes (F, K, 4), mask (F, K)) → boxes and mask over the whole video at ``fps`` (where
    chunks overlap, the later chunk's frames are kept)."""
    k = chunks[0][1].shape[1] if chunks else 1
    n = int(round(duration * fps))
    boxes, mask = torch.zeros(n, k, 4), torch.zeros(n, k, dtype=torch.bool)
    for start, b, m in sorted(chunks, key=lambda c: c[0]):
        f0 = int(round(start * fps))
        end = min(n, f0 + b.shape[0])
        if end > f0:
            boxes[f0:end], mask[f0:end] = b[: end - f0].float(), m[: end - f0].bool()
    return boxes, mask


def video_audio(path: str | Path, sample_rate: int) -> np.ndarray | None:
    """A video's own soundtrack as (2, T) float32 at ``sample_rate``, or None when it has none."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sample_rate)
        parts = [f.to_ndarray() for frame in container.decode(stream) for f in resampler.resample(frame)]
        parts += [f.to_ndarray() for f in resampler.resample(None)]
    if not parts:
        return None
    return np.concatenate(parts, axis=1).astype(np.float32)


class Engine:
    """A recipe + trainable weights, ready to voice videos.

    Args:
        config: recipe file (``pkg://`` allowed); default: the tiny recipe.
        checkpoint: ``.ckpt`` (Lightning) or ``.safetensors`` (exported trainable weights); default: the
            recipe's ``shipped_weights`` (a recipe without them needs a checkpoint).
        predict_models: feature-extraction models (``ModelConfig`` fields); default: the recipe's
            ``data.predict_models``.
        work_dir: where each generation's features and outputs go (default: a temporary folder).
        envelope_predictor: envelope-predictor file for silent videos; default: the recipe's
            ``data.envelope_predictor`` (predict refuses one trained at another sample rate).
    """

    def __init__(
        self,
        config: str | None = None,
        checkpoint: str | None = None,
        predict_models: dict[str, Any] | None = None,
        work_dir: str | Path | None = None,
        envelope_predictor: str | None = None,
    ):
        from stereosync.cli import cli_main
        from stereosync.resources import resolve_path

        config_path = resolve_path(config or DEFAULT_CONFIG)
        cli = cli_main(
            ["--config", str(config_path), "--trainer.logger=false", "--trainer.callbacks=[]"],
            run=False,
        )
        checkpoint = checkpoint or cli.config.get("shipped_weights")
        if checkpoint is None:
            raise ValueError(f"{config_path} has no shipped weights: pass --checkpoint (a .ckpt or .safetensors)")
        self.module = cli.model.eval()
        self.data = dict(cli.datamodule.hparams)
        self.data.pop("_instantiator", None)
        if predict_models is not None:
            self.data["predict_models"] = predict_models
        if envelope_predictor is not None:
            self.data["envelope_predictor"] = envelope_predictor
        self.base_sampler = self.module.sampler
        self.base_seed = self.module.seed
        self.weights = str(checkpoint)
        self._load(self.weights)
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="stereosync-demo-"))
        self.runs = 0

    def _load(self, weights: str) -> None:
        from stereosync.models.trainable_weights import load_trainable
        from stereosync.resources import resolve_path

        path = resolve_path(weights)
        if path.suffix == ".safetensors":
            load_trainable(self.module, path)
            return
        state = torch.load(str(path), map_location="cpu", weights_only=False)
        if "state_dict" not in state:
            raise ValueError(f"{path}: not a Lightning checkpoint (no state_dict)")
        self.module.on_load_checkpoint(state)  # bf16-stored weights back to fp32
        self.module.load_state_dict(state["state_dict"], strict=True)

    @property
    def sample_rate(self) -> int:
        return self.module.backbone.sample_rate

    def generate(
        self,
        video: str | Path,
        reference_audio: str | Path | None = None,
        seed: int = 0,
        cfg_scale: float | None = None,
        steps: int | None = None,
        progress: Progress | None = None,
        callbacks: Sequence[pl.Callback] = (),
        output_format: str = "stereo",
        vision_preset: str | None = None,
    ) -> Result:
        """Voice ``video``; ``reference_audio`` gives the timbre (needed for a silent video).

        ``output_format``: ``stereo``, ``binaural`` (the video with headphone audio) or ``foa`` (an ambiX wav and
        ``Result.mp4`` with its four channels, tagged by an SA3D box; ``Result.audio`` holds W, Y, Z, X).
        ``vision_preset``: the feature-extraction preset for this video (``auto``, ``people``, ``tiny`` …; default:
        the engine's models).

        ``callbacks`` run before the prediction writer (``bench/predict.py`` times the stages with one).

        Raises:
            ValueError / FileNotFoundError: the pipeline's own messages (silent video without a reference,
                unreadable file, a video too short …).
        """
        from callbacks.prediction_writer import PredictionWriter
        from datamodules.shards import ShardDataModule
        from stereosync.media import video_duration

        progress = progress or (lambda frac, text: None)
        video = Path(video)
        if not video.is_file():
            raise FileNotFoundError(f"video {video} does not exist")
        try:
            duration, _ = video_duration(video)
        except Exception as err:  # noqa: BLE001 - PyAV raises many types; the user needs the file and the reason
            raise ValueError(f"cannot read {video.name} as a video: {err}") from err
        chunk = float(self.data["chunk_seconds"])
        if duration < 0.5:
            raise ValueError(f"{video.name} is {duration:.2f} s long: the demo needs at least 0.5 s of video")
        self.runs += 1
        run = self.work_dir / f"run{self.runs:04d}"
        hop = float(self.data.get("predict_hop_seconds", chunk))
        chunks = 1 + max(0, int(np.ceil((duration - chunk) / hop)))
        self.module.sampler = dataclasses.replace(
            self.base_sampler,
            steps=int(steps or self.base_sampler.steps),
            cfg_scale=float(self.base_sampler.cfg_scale if cfg_scale is None else cfg_scale),
        )
        self.module.seed = int(seed)
        dm = ShardDataModule(
            **{
                **self.data,
                "synthetic": None,
                "train_shards": None,
                "val_shards": None,
                "test_shards": None,
                "num_workers": 0,
                "predict_videos": str(video),
                "predict_dir": str(run / "features"),
                "clap_reference": None if reference_audio is None else str(reference_audio),
                "envelope_reference": None,
                "output_format": output_format,
                **({"predict_models": {"preset": vision_preset}} if vision_preset else {}),
            }
        )
        collect = _Collect(progress, chunks)
        writer = PredictionWriter(output_dir=str(run / "out"))
        trainer = pl.Trainer(
            accelerator="auto",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[*callbacks, writer, collect],
            default_root_dir=str(run),
        )
        dm.extraction_progress = extraction_progress(progress, chunks)
        progress(0.05, "extracting features (depth, boxes, motion)")
        trainer.predict(self.module, datamodule=dm, return_predictions=False)
        progress(0.95, "muxing the audio into the video")
        if writer.summary is not None and writer.summary["failed"]:  # one video: its failure is the request's
            failure = json.loads(Path(writer.summary["failures"]).read_text().splitlines()[0])
            raise ValueError(f"{video.name}: the {failure['stage']} stage failed: {failure['error']}")
        mp4 = next((p for p in sorted((run / "out").rglob("*")) if p.suffix in (".mp4", ".mov", ".mkv")), None)
        wav = next((run / "out").rglob("*.wav"))
        import soundfile

        audio, rate = soundfile.read(str(wav), dtype="float32", always_2d=True)
        boxes, mask = whole_video_boxes(collect.boxes, duration)
        progress(1.0, "done")
        return Result(mp4, wav, audio.T.copy(), rate, duration, boxes, mask, video_audio(video, rate), run)
