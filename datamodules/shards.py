"""WebDataset DataModule: streams StereoSync shards to one or many GPUs.

Training: shards are *resampled* (with replacement) from a seed that depends on (seed, rank, worker, epoch),
samples pass a seeded shuffle buffer, are batched inside the pipeline, and every rank yields exactly
``steps_per_epoch`` batches — equal step counts under DDP whatever the shard sizes. Validation / test: every
shard once, split disjointly across ranks and then workers, in order, not resampled; works with more workers
than shards. Shard lists: a brace pattern, a list, a local folder (all ``*.tar`` inside) or ``pipe:`` URLs.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from datamodules.predict import EnvelopeSource, EnvelopeSourceName, check_envelope_predictor
from stereosync.data import pipeline
from stereosync.data.schema import require_motion
from stereosync.extract.factory import ModelConfig

DEFAULT_ENVELOPE_PREDICTOR = "pkg://stereosync/weights/tiny_envelope_predictor.safetensors"

log = logging.getLogger(__name__)


def expand_shards(spec: str | list[str] | None) -> list[str]:
    """Shard URLs from a brace pattern, list, folder or glob; ``pipe:``/``http`` URLs pass through."""
    if spec is None:
        return []
    import braceexpand

    items = spec if isinstance(spec, list) else [spec]
    urls: list[str] = []
    for item in items:
        for url in braceexpand.braceexpand(str(item)):
            if url.startswith(("pipe:", "http:", "https:", "s3:", "gs:")):
                urls.append(url)
            elif os.path.isdir(url):
                urls.extend(sorted(glob.glob(os.path.join(url, "*.tar"))))
            elif any(c in url for c in "*?["):
                urls.extend(sorted(glob.glob(url)))
            elif os.path.isfile(url):
                urls.append(url)
            else:
                raise FileNotFoundError(f"shards: {url} does not exist (from {spec!r})")
    return urls


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _worker() -> tuple[int, int]:
    info = get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


class ShardStream(IterableDataset):
    """Iterable over collated batches of one split (see the module docstring)."""

    def __init__(
        self,
        urls: list[str],
        batch_size: int,
        chunk_seconds: float,
        train: bool,
        seed: int,
        strict: bool,
        steps_per_epoch: int | None,
        shuffle_buffer: int,
        peak_normalise: bool,
        polarity_flip: bool,
        target: str = "audio",
    ):
        super().__init__()
        if not urls:
            raise ValueError("ShardStream: no shards given")
        self.urls, self.batch_size, self.chunk_seconds, self.train = urls, batch_size, chunk_seconds, train
        self.seed, self.strict, self.steps_per_epoch = seed, strict, steps_per_epoch
        self.shuffle_buffer, self.peak_normalise, self.polarity_flip = shuffle_buffer, peak_normalise, polarity_flip
        self.target = target
        self.epoch = 0

    def shard_urls(self) -> Iterator[dict]:
        rank, world = _rank_world()
        worker, workers = _worker()
        if self.train:
            rng = random.Random(f"{self.seed}-{self.epoch}-{rank}-{worker}")
            while True:
                yield {"url": rng.choice(self.urls)}
        mine = self.urls[rank::world][worker::workers]
        yield from ({"url": u} for u in mine)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        counter = pipeline.SkipCounter(self.strict)
        samples = (pipeline.decode(raw, counter) for raw in pipeline.tar_samples(self.shard_urls(), counter))
        samples = (s for s in samples if s is not None)
        aug_rng = None
        if self.train:
            rank, _ = _rank_world()
            worker, _ = _worker()
            shuffle_rng = random.Random(f"shuffle-{self.seed}-{self.epoch}-{rank}-{worker}")
            samples = pipeline.buffer_shuffle(samples, self.shuffle_buffer, shuffle_rng)
            aug_rng = np.random.default_rng([self.seed, self.epoch, rank, worker])  # one stream: reproducible
        samples = (
            pipeline.augment(
                s, self.chunk_seconds, aug_rng, self.peak_normalise, self.polarity_flip and self.train, self.target
            )
            for s in samples
        )
        stream = pipeline.batches(samples, self.batch_size, counter, partial=not self.train)
        if self.train:
            _, workers = _worker()
            per_worker = math.ceil(self.steps_per_epoch / workers)
            for _, batch in zip(range(per_worker), stream):
                yield batch
        else:
            yield from stream


@dataclass
class SyntheticData:
    """Synthetic spatial scenes created by ``prepare_data`` when missing.

    Attributes:
        root: folder holding ``<split>/shards`` and ``<split>/videos``.
        train_scenes: scenes in the training split.
        val_scenes: scenes in the validation split.
        test_scenes: scenes in the test split.
        seed: base seed (splits never share a scene).
        duration: seconds per scene.
        write_mp4s: also write the mp4 videos (needed by AV-Align and ``predict``).
        clap_checkpoint: a LAION-CLAP checkpoint: each chunk's ``clap`` member is the embedding of its audio;
            None stores zeros (the scenes' default: no checkpoint is needed to write them).
    """

    root: str = "data/synthetic"
    train_scenes: int = 48
    val_scenes: int = 8
    test_scenes: int = 8
    seed: int = 0
    duration: float = 6.0
    write_mp4s: bool = True
    clap_checkpoint: str | None = None


class ShardDataModule(pl.LightningDataModule):
    """WebDataset shards → batches.

    Args:
        train_shards: training shards (brace pattern, list, folder, glob or ``pipe:`` URLs).
        val_shards: validation shards.
        test_shards: test shards.
        sample_rate: audio rate the model expects (Hz); a shard at another rate is a start-up error.
        batch_size: samples per batch (per rank).
        num_workers: loader processes per rank (may exceed the number of shards).
        steps_per_epoch: training batches per rank per epoch (the stream is resampled, so this defines epochs).
        shuffle_buffer: samples in the training shuffle buffer.
        chunk_seconds: crop length (random grid-aligned crop for training, from 0 otherwise).
        peak_normalise: scale each chunk to peak 1.
        polarity_flip: random polarity flip in training.
        strict: raise on the first bad sample instead of skipping and counting it (training default: lenient).
        seed: seed of shard resampling, shuffling and augmentation.
        synthetic: create synthetic shards in ``prepare_data`` and use them for every split left unset.
        predict_videos: ``predict`` input: a video file, a folder of videos or a list file; videos with or
            without an audio track. Their features are extracted with :mod:`stereosync.extract` first.
        predict_models: the models of that extraction (model folders, ``num_objects``, ``clap_checkpoint`` …);
            they must match what the training shards used.
        predict_dir: an empty (or new) folder for the extracted features; default ``<run log dir>/predict/features``,
            so every run extracts its own inputs.
        predict_hop_seconds: ``predict`` cuts a chunk every this many seconds (chunks overlap by
            ``chunk_seconds`` − this, and the generated audio is cross-faded there); a multiple of 0.5 s.
        clap_reference: ``predict``: an audio file whose CLAP embedding replaces the video's own (a sound
            designer's choice of timbre); needed for a video without an audio track.
        envelope_reference: ``predict``: an audio file whose envelope (timing) replaces the video's own,
            aligned to the video's start; default: the video's own audio, or the predicted envelope.
        envelope_source: the ControlNet's envelope: ``audio`` (the chunk's own audio, the paper),
            ``predicted`` (the envelope predictor, from the video alone) or ``auto`` (the own audio where there
            is one, else predicted). At ``fit``, ``predicted`` trains (and validates) on the predictor's envelope
            — a generator for silent videos, which learns to voice the envelope it will be given; ``auto`` and
            ``audio`` train on the own audio's.
        predicted_envelope_share: ``fit`` with ``envelope_source`` ``audio`` or ``auto``: the share of training
            batches whose ControlNet reads the predictor's envelope instead of the own audio's (validation keeps
            the own audio's). The predictor's envelope shows when the steps fall but not what they are made of, so
            on those batches the generator has to take the timbre from the CLAP embedding; 0 (default) trains on
            the own audio's envelope only, as the paper.
        envelope_predictor: envelope-predictor file (:class:`stereosync.models.envelope_predictor.EnvelopePredictor`);
            the shipped one was trained on the synthetic scenes at 16 kHz. A list of files averages their envelopes
            (:class:`stereosync.models.envelope_ensemble.EnvelopeEnsemble`), e.g. the picture-only predictor and
            one that reads the timbre reference's CLAP embedding.
        output_audio_codec: ``predict``: codec of the generated stereo track in the output video: ``auto``
            (AAC in ``.mp4``/``.mkv``, 24-bit PCM ``pcm_s24le`` in ``.mov``), ``aac``, ``pcm_s24le``,
            ``pcm_s16le`` or ``flac``. A value mp4 cannot hold is refused at start-up (docs/outputs.md has
            which container each video gets).
        output_format: ``predict``: the spatial format written: ``stereo`` (as generated), ``binaural`` (the
            generated stereo rendered for headphones through measured HRTFs along the tracked boxes) or ``foa``
            (first-order ambisonics for 360° video: an ambiX wav and the video with its 4-channel track tagged
            by an SA3D box); docs/spatial_audio.md.
            A model that generates binaural itself (``configs/tiny_binaural.yaml``) writes its output as it is.
        target: the audio a model trains on and is tested against: ``stereo`` (the shards' ``audio``) or
            ``binaural`` (their ``binaural`` member, schema version 3; the end-to-end binaural route). The
            envelope and CLAP inputs are the stereo's either way.
    """

    def __init__(
        self,
        train_shards: str | list[str] | None = None,
        val_shards: str | list[str] | None = None,
        test_shards: str | list[str] | None = None,
        sample_rate: int = 44100,
        batch_size: int = 12,
        num_workers: int = 2,
        steps_per_epoch: int = 1000,
        shuffle_buffer: int = 256,
        chunk_seconds: float = 2.0,
        peak_normalise: bool = True,
        polarity_flip: bool = True,
        strict: bool = False,
        seed: int = 0,
        synthetic: SyntheticData | None = None,
        predict_videos: str | None = None,
        predict_models: ModelConfig | None = None,
        predict_dir: str | None = None,
        predict_hop_seconds: float = 1.5,
        clap_reference: str | None = None,
        envelope_reference: str | None = None,
        envelope_source: EnvelopeSourceName = "auto",
        envelope_predictor: str | list[str] | None = DEFAULT_ENVELOPE_PREDICTOR,
        predicted_envelope_share: float = 0.0,
        output_audio_codec: str = "auto",
        output_format: Literal["stereo", "binaural", "foa"] = "stereo",
        target: Literal["stereo", "binaural"] = "stereo",
    ):
        super().__init__()
        self.save_hyperparameters()
        from stereosync.output_video import AUDIO_CODECS, FLAG

        if output_audio_codec not in AUDIO_CODECS:  # a typo fails here, before any data is read
            raise ValueError(f"{FLAG}={output_audio_codec!r} is not one of {', '.join(AUDIO_CODECS)}")
        if output_format not in ("stereo", "binaural", "foa"):
            raise ValueError(f"data.output_format={output_format!r} is not one of stereo, binaural, foa")
        if target not in ("stereo", "binaural"):
            raise ValueError(f"data.target={target!r} is not one of stereo, binaural")
        self.predict_features_dir: Path | None = None  # set by predict_dataloader (the prediction writer reads it)
        self.predict_sources: list[str] | None = None
        if isinstance(synthetic, dict):
            synthetic = SyntheticData(**synthetic)
        if isinstance(predict_models, dict):
            predict_models = ModelConfig(**predict_models)
        self.predict_models = predict_models or ModelConfig()
        self.synthetic = synthetic
        self.shards = {"train": train_shards, "val": val_shards, "test": test_shards}
        if synthetic is not None:
            for split in self.shards:
                self.shards[split] = self.shards[split] or str(Path(synthetic.root) / split / "shards")
        self.epoch = 0

    def prepare_data(self) -> None:
        syn = self.synthetic
        if syn is None:
            return
        from stereosync.data.synthetic import ensure_synthetic_dataset

        clap = None
        if syn.clap_checkpoint is not None:
            from stereosync.clap import ClapAudioEncoder, ClipEmbedder

            clap = ClipEmbedder(ClapAudioEncoder(syn.clap_checkpoint))
        counts = {"train": syn.train_scenes, "val": syn.val_scenes, "test": syn.test_scenes}
        for split, n in counts.items():
            ensure_synthetic_dataset(
                syn.root,
                num_scenes=n,
                seed=syn.seed,
                split=split,
                sample_rate=self.hparams.sample_rate,
                duration=syn.duration,
                write_mp4s=syn.write_mp4s,
                clap_encoder=clap,
            )

    def peek(self, stage: str) -> dict | None:
        """The first valid sample of the split a stage reads (for start-up checks), or None without shards."""
        split = {"fit": "train", "validate": "val", "test": "test", "predict": "test"}.get(stage, "train")
        urls = expand_shards(self.shards[split])
        if not urls:
            return None
        counter = pipeline.SkipCounter(strict=False)
        for raw in pipeline.tar_samples(({"url": u} for u in urls[:4]), counter):
            sample = pipeline.decode(raw, counter)
            if sample is not None:
                return sample
        return None

    def setup(self, stage: str) -> None:
        """Start-up check: ``envelope_source: predicted`` at ``fit`` and ``test`` (and ``predicted_envelope_share`` >
        0 at ``fit``) needs shards with ``motion`` (version 2) and an envelope predictor trained at
        ``data.sample_rate`` on as many tracked objects as the shards hold."""
        why = f"data.envelope_source=predicted at {stage}"
        if stage == "fit" and self.hparams.envelope_source != "predicted" and self._predicted_share() > 0:
            why = f"data.predicted_envelope_share={self._predicted_share()} at fit"
        elif stage not in ("fit", "test") or self.hparams.envelope_source != "predicted":
            return
        sample = self.peek(stage)
        require_motion(sample, why)
        if sample is not None and "boxes" in sample:  # the predictor must read this data's rate and K
            objects = int(sample["boxes"].shape[-2])
            no_clap = self._no_clap(sample)
            check_envelope_predictor(self.hparams.envelope_predictor, self.hparams.sample_rate, objects, why, no_clap)

    def _generator_without_clap(self) -> str | None:
        """Why the generator receives no CLAP embedding (its recipe has no CLAP stream), or None."""
        module = getattr(self.trainer, "lightning_module", None) if self.trainer is not None else None
        model = getattr(module, "model", None)
        if model is not None and getattr(model, "clap", True) is None:
            return "the model has no CLAP stream (model.clap: null), so nothing gives the timbre"
        return None

    def _no_clap(self, sample: dict) -> str | None:
        """Why a test sample gives no CLAP embedding to read (none stored, or zeros), or None."""
        missing = self._generator_without_clap()
        if missing is None and ("clap" not in sample or sample["json"].get("clap") == "none"):
            missing = (
                f"shard {sample.get('__url__')} stores none (json clap: {sample['json'].get('clap')!r}; write the "
                f"synthetic scenes with data.synthetic.clap_checkpoint=FILE)"
            )
        return missing

    def set_epoch(self, epoch: int) -> None:
        """Called at each training epoch start: new resampling/shuffle/augmentation draws per epoch."""
        self.epoch = epoch

    def _stream(self, split: str, train: bool, strict: bool) -> ShardStream:
        urls = expand_shards(self.shards[split])
        if not urls:
            raise FileNotFoundError(f"data.{split}_shards: no shards found for {self.shards[split]!r}")
        h = self.hparams
        stream = ShardStream(
            urls,
            h.batch_size,
            h.chunk_seconds,
            train,
            h.seed,
            strict,
            h.steps_per_epoch,
            h.shuffle_buffer,
            h.peak_normalise,
            h.polarity_flip,
            "audio" if h.get("target", "stereo") == "stereo" else h.target,
        )
        stream.epoch = self.epoch
        return stream

    def _loader(self, stream: ShardStream) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(stream, batch_size=None, num_workers=workers, persistent_workers=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self._envelope(_EpochAware(self, "train"), self._predicted_share()))

    def _predicted_share(self) -> float:
        share = float(self.hparams.get("predicted_envelope_share", 0.0))
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"data.predicted_envelope_share must be in [0, 1], got {share}")
        return share

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._envelope(self._stream("val", train=False, strict=self.hparams.strict)))

    def _envelope(self, stream: IterableDataset, share: float = 0.0) -> IterableDataset:
        """``envelope_source: predicted`` (fit and test): the ControlNet reads the predictor's envelope; otherwise
        a ``share`` > 0 (training) of the batches reads it."""
        h = self.hparams
        if h.envelope_source != "predicted" and share == 0:
            return stream
        return EnvelopeSource(stream, h.envelope_source, h.envelope_predictor, h.sample_rate, share)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._envelope(self._stream("test", train=False, strict=True)))

    def predict_dataloader(self) -> DataLoader:
        """Batches of the videos in ``predict_videos`` (or of the test shards), in order, with references."""
        from datamodules.predict import (
            PredictStream,
            ReferenceOverride,
            check_videos,
            extract_for_prediction,
            reference_clap,
            video_keys,
        )

        h = self.hparams
        if h.predict_videos is None:
            return self.test_dataloader()
        from stereosync.output_video import check_audio_codec

        no_clap = self._generator_without_clap()
        needs_clap = no_clap is None
        check_audio_codec(h.output_audio_codec)
        silent = check_videos(h.predict_videos, h.clap_reference, needs_clap)
        auto_silent = h.envelope_source == "auto" and bool(silent)
        predicted = h.envelope_reference is None and (h.envelope_source == "predicted" or auto_silent)
        if predicted:
            why = "data.envelope_source=predicted" if h.envelope_source == "predicted" else f"silent {silent[0]}"
            objects = self.predict_models.num_objects
            check_envelope_predictor(h.envelope_predictor, h.sample_rate, objects, why, no_clap)
        out = self._features_dir()
        self.predict_features_dir, self.predict_sources = out, video_keys(h.predict_videos, out)
        shards = extract_for_prediction(
            h.predict_videos,
            out,
            h.sample_rate,
            h.chunk_seconds,
            h.predict_hop_seconds,
            self.predict_models,
            getattr(self, "extraction_progress", None),  # set by a caller that shows progress (the demo)
        )
        batches = PredictStream(shards, h.batch_size, h.peak_normalise)
        clap = reference_clap(h.clap_reference, self.predict_models) if h.clap_reference is not None else None
        envelope = None
        if h.envelope_reference is not None:
            from stereosync.media import read_audio

            envelope = read_audio(h.envelope_reference, h.sample_rate)
        # the references first: a predictor that reads CLAP gets the embedding the generator receives
        stream = ReferenceOverride(batches, clap, envelope, h.sample_rate)
        if h.envelope_reference is None:  # an envelope reference replaces every chunk's: nothing is predicted then
            stream = EnvelopeSource(stream, h.envelope_source, h.envelope_predictor, h.sample_rate)
        return DataLoader(stream, batch_size=None, num_workers=0)

    def _features_dir(self) -> Path:
        """This run's extraction folder: ``predict_dir`` if empty or new, else ``<log dir>/predict/features``."""
        if self.hparams.predict_dir is not None:
            out = Path(self.hparams.predict_dir)
            if out.exists() and any(out.iterdir()):
                raise ValueError(
                    f"data.predict_dir {out} is not empty (features of another run?): give an empty or new folder, "
                    f"or leave it unset for <run log dir>/predict/features"
                )
            return out
        trainer = self.trainer
        base = Path((trainer.log_dir or trainer.default_root_dir) if trainer is not None else "runs/predict")
        out = base / "predict" / "features"
        n = 1
        while out.exists() and any(out.iterdir()):  # a run folder without a versioned logger is reused
            n += 1
            out = base / "predict" / f"features-{n}"
        return out


class _EpochAware(IterableDataset):
    """Builds the training stream at each ``iter()`` so it picks up the DataModule's current epoch."""

    def __init__(self, dm: ShardDataModule, split: str):
        super().__init__()
        self.stream = dm._stream(split, train=True, strict=dm.hparams.strict)
        self.dm = dm

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.stream.epoch = self.dm.epoch
        return iter(self.stream)
