"""Generation inputs: new videos → features (the extraction pipeline) → batches, with the envelope and timbre
sources the user chose.

- :func:`check_videos`: at start-up, before any extraction: a silent video needs a CLAP reference for its timbre.
- :func:`extract_for_prediction`: every video of the input (a file, folder or list file) into a folder of the
  run, cut into overlapping chunks that cover its whole length, silent videos included; a video that cannot
  be used is reported by name and the others go on.
- :func:`video_batches`: batches never mix two videos.
- :class:`EnvelopeSource`: the ControlNet's envelope from the chunk's own audio (the paper) or from the
  envelope predictor (a video without a soundtrack); a predictor that reads CLAP gets the batch's embedding,
  so it runs after :class:`ReferenceOverride` has set the reference's.
- :class:`ReferenceOverride`: a reference recording for the timbre (CLAP) and/or the timing (envelope).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import IterableDataset

from stereosync.data import pipeline
from stereosync.data.schema import CLAP_DIM

log = logging.getLogger(__name__)

EnvelopeSourceName = Literal["auto", "audio", "predicted"]


def _input_list(videos: str, out: Path) -> str:
    """A folder or list file as given; a single video becomes a one-line list file (absolute path) in ``out``."""
    if Path(videos).is_file() and Path(videos).suffix.lower() not in (".txt", ".lst"):
        out.mkdir(parents=True, exist_ok=True)
        listing = out / "inputs.txt"
        listing.write_text(str(Path(videos).resolve()) + "\n")
        return str(listing)
    return videos


def check_videos(videos: str, clap_reference: str | None, needs_clap: bool) -> list[str]:
    """Refuse, before any extraction, silent videos that would have no timbre source; returns the silent ones.

    Raises:
        FileNotFoundError: ``videos`` does not exist.
        ValueError: naming every silent video and the flag, when ``needs_clap`` and no CLAP reference is given.
    """
    from stereosync.extract import errors
    from stereosync.extract.decode import has_audio_stream
    from stereosync.extract.inputs import Video, list_videos

    path = Path(videos)
    if not path.exists():
        raise FileNotFoundError(f"data.predict_videos: {videos} does not exist")
    items = [Video(path.name, path)] if path.is_file() and path.suffix.lower() not in (".txt", ".lst") else None
    silent = []
    for video in items or list_videos(videos):
        try:
            if not has_audio_stream(video.path):
                silent.append(str(video.path))
        except (errors.ExtractError, OSError):
            continue  # unusable files are reported by the extraction, with the reason
    if silent and needs_clap and clap_reference is None:
        raise ValueError(
            f"predict: {len(silent)} video(s) have no audio track, so nothing gives their timbre: "
            f"{', '.join(silent[:8])}. Give a reference recording with --data.clap_reference=sound.wav "
            f"(its CLAP embedding sets the timbre; the envelope is predicted from the video)"
        )
    return silent


def check_envelope_predictor(
    path: str | list[str] | None, sample_rate: int, num_objects: int, why: str, no_clap: str | None = None
) -> None:
    """Refuse, before any extraction, an envelope predictor that does not fit the run: trained on audio at
    another rate (or not saying at which), or on boxes of another number of tracked objects, or reading a CLAP
    embedding where the run has none.

    Args:
        path: ``data.envelope_predictor``: one file, or a list of files whose envelopes are averaged (each is
            checked, and an error names the file that does not fit).
        sample_rate: ``data.sample_rate``.
        num_objects: K of the extraction (``data.predict_models.num_objects``).
        why: what needs the predicted envelope (for the message).
        no_clap: why the run has no CLAP embedding for the predictor (e.g. the model has no CLAP stream), or None
            when the generator receives one (the predictor then reads the same).

    Raises:
        ValueError: naming the file, what does not fit, and the two ways out.
    """
    from stereosync.models.envelope_predictor import file_info

    remedy = (
        f"train one on this recipe's shards (configs/envelope_predictor.yaml with --data.synthetic=null "
        f"--data.train_shards=... --data.sample_rate={sample_rate} --model.init_args.sample_rate={sample_rate} "
        f"--model.init_args.num_objects={num_objects}, then python -m stereosync.envelope_training export) and "
        f"pass it as --data.envelope_predictor=FILE, or give the timing with --data.envelope_reference=timing.wav"
    )
    if path is None or (not isinstance(path, str) and len(path) == 0):
        raise ValueError(f"data.envelope_predictor is not set, but {why} needs a predicted envelope: {remedy}")
    if not isinstance(path, str):
        for member in path:
            check_envelope_predictor(member, sample_rate, num_objects, why, no_clap)
        return
    config, rate = file_info(path)
    if rate is None:
        problem = "records no training sample rate (export it with python -m stereosync.envelope_training export)"
    elif rate != sample_rate:
        problem = f"was trained on {rate}-Hz audio but data.sample_rate is {sample_rate}"
    elif int(config["num_objects"]) != num_objects:
        problem = f"reads {config['num_objects']} tracked objects but the extraction keeps {num_objects}"
    elif int(config.get("clap_dim", 0)) and no_clap is not None:
        raise ValueError(
            f"data.envelope_predictor {path} reads a CLAP embedding of the timbre reference (clap_dim="
            f"{config['clap_dim']}) but {no_clap}; {why} needs a predicted envelope: use a predictor trained "
            f"without one (clap_dim 0, e.g. the shipped recipe's), or give the timing with "
            f"--data.envelope_reference=timing.wav"
        )
    else:
        return
    raise ValueError(f"data.envelope_predictor {path} {problem}; {why} needs a predicted envelope: {remedy}")


def video_keys(videos: str, out: Path) -> list[str]:
    """The ``source`` keys the extraction gives the videos of ``videos`` (a file, folder or list file)."""
    from stereosync.extract.inputs import list_videos

    return [v.key for v in list_videos(_input_list(videos, out))]


def extract_for_prediction(
    videos: str,
    out: Path,
    sample_rate: int,
    chunk_seconds: float,
    hop_seconds: float,
    models: Any,
    on_chunks: Callable[[str, int], None] | None = None,
) -> list[str]:
    """Extract ``videos`` (a file, folder or list file) into ``out``; returns its shards.

    Chunks start every ``hop_seconds`` and the last one is padded, so they cover each video's whole length;
    silent videos give chunks without audio members. Videos that cannot be used are logged by name with the
    reason (and listed in ``out/failures-p0000.jsonl``); the others go on.

    Args:
        models: a :class:`stereosync.extract.factory.ModelConfig` (or a dict of its fields).
        on_chunks: progress callback, (video key, chunks written for it so far).

    Raises:
        ValueError: naming each video, when none of them could be used.
    """
    from stereosync.extract.decode import DecodeConfig
    from stereosync.extract.factory import ModelConfig, build_featurizer
    from stereosync.extract.pipeline import ExtractConfig, run_extraction

    model_cfg = models if isinstance(models, ModelConfig) else ModelConfig(**(models or {}))
    featurizer, names = build_featurizer(model_cfg)
    cfg = ExtractConfig(
        inputs=_input_list(videos, out),
        out=str(out),
        num_shards=1,
        shard_index=0,
        decode=DecodeConfig(
            sample_rate=sample_rate,
            chunk_seconds=chunk_seconds,
            hop_seconds=hop_seconds,
            pad_tail=True,
            allow_silent=True,
        ),
        extra_meta={"models": names},
    )
    summary = run_extraction(cfg, featurizer, on_chunks)
    failures = [json.loads(line) for f in out.glob("failures-*.jsonl") for line in f.read_text().splitlines()]
    fatal = [f for f in failures if f.get("fatal", True)]
    for f in fatal:
        log.error("predict: %s cannot be used: %s: %s", f.get("path"), f.get("error"), f.get("message"))
    shards = sorted(str(p) for p in out.glob("shard-*.tar"))
    if not shards or summary["chunks_written"] == 0:
        lines = "; ".join(f"{f.get('path')}: {f.get('error')}: {f.get('message')}" for f in fatal) or "no video found"
        raise ValueError(f"predict: no usable video in {videos}: {lines}")
    return shards


def video_batches(samples: Iterator[dict], batch_size: int) -> Iterator[dict]:
    """Collated batches of consecutive samples of one video each (a new video starts a new batch)."""
    group: list[dict] = []
    for s in samples:
        if group and (len(group) == batch_size or s["json"]["source"] != group[0]["json"]["source"]):
            yield pipeline.collate(group, {})
            group = []
        group.append(s)
    if group:
        yield pipeline.collate(group, {})


class PredictStream(IterableDataset):
    """Every sample of the shards once, in order, peak-normalised where it has audio, batched per video."""

    def __init__(self, urls: list[str], batch_size: int, peak_normalise: bool):
        super().__init__()
        self.urls, self.batch_size, self.peak_normalise = urls, batch_size, peak_normalise

    def __iter__(self) -> Iterator[dict[str, Any]]:
        counter = pipeline.SkipCounter(strict=True)
        raws = pipeline.tar_samples(({"url": u} for u in self.urls), counter)
        decoded = (pipeline.decode(raw, counter) for raw in raws)
        samples = (pipeline.augment(s, float(s["json"]["duration"]), None, self.peak_normalise, False) for s in decoded)
        yield from video_batches(samples, self.batch_size)


class EnvelopeSource(IterableDataset):
    """Sets each batch's ``control_envelope`` (the ControlNet's input) from the chosen source.

    Args:
        stream: batches.
        source: ``audio`` (the chunk's own audio; the paper), ``predicted`` (the envelope predictor, always) or
            ``auto`` (the own audio where the batch has it, the predictor for a silent video).
        predictor: path of an envelope-predictor file (``pkg://`` for the shipped one), or a list of files whose
            envelopes are averaged (:class:`~stereosync.models.envelope_ensemble.EnvelopeEnsemble`); read when
            needed.
        sample_rate: Hz of the batches.
        share: with ``audio`` or ``auto``, the share of the batches with audio that take the predictor's envelope
            all the same (drawn per batch from ``torch.initial_seed()``, which differs per worker and epoch); 0
            keeps every own envelope.
    """

    def __init__(
        self,
        stream: IterableDataset,
        source: EnvelopeSourceName,
        predictor: str | list[str] | None,
        sample_rate: int,
        share: float = 0.0,
    ):
        super().__init__()
        if source not in ("auto", "audio", "predicted"):
            raise ValueError(f"data.envelope_source must be auto, audio or predicted, got {source!r}")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"data.predicted_envelope_share must be in [0, 1], got {share}")
        self.stream, self.source, self.path, self.sample_rate = stream, source, predictor, sample_rate
        self.share = share
        self._model = None

    def model(self):
        if self._model is None:
            from stereosync.models.envelope_ensemble import load_envelope_predictor

            if not self.path:
                raise ValueError("data.envelope_predictor is not set, but a batch needs a predicted envelope")
            self._model = load_envelope_predictor(self.path)
        return self._model

    def __iter__(self) -> Iterator[dict[str, Any]]:
        draws = random.Random(torch.initial_seed())
        for batch in self.stream:
            has_audio = "audio" in batch or "envelope" in batch
            if self.source == "audio" and not has_audio:
                raise ValueError(
                    f"data.envelope_source=audio but {batch['meta'][0]['source']} has no audio track "
                    f"(use auto or predicted)"
                )
            mixed = self.share > 0 and draws.random() < self.share
            if self.source == "predicted" or not has_audio or mixed:
                batch = self.predict(batch)
            yield batch

    def predict(self, batch: dict) -> dict:
        if "motion" not in batch:
            meta = batch["meta"][0]
            raise ValueError(
                f"sample {batch['__key__'][0]} of {meta['source']}: no 'motion' member (schema version "
                f"{meta.get('schema_version')}), which the envelope predictor reads: re-extract the videos"
            )
        num_samples = int(round(float(batch["seconds_total"][0]) * self.sample_rate))
        model = self.model()
        clap = None
        if model.clap_dim:  # the embedding the generator receives: the own audio's, or the reference's in predict
            if "clap" not in batch:
                raise ValueError(
                    f"data.envelope_predictor {self.path} reads a CLAP embedding, but sample {batch['__key__'][0]} "
                    f"of {batch['meta'][0]['source']} has none (give --data.clap_reference=sound.wav)"
                )
            clap = batch["clap"]
        env = model.predict(batch["motion"], batch["boxes"], batch["box_mask"], num_samples, clap)
        batch = dict(batch, control_envelope=env)
        batch.pop("envelope_latent", None)
        return batch


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
            b = len(batch["__key__"])
            if self.clap is not None:
                batch["clap"] = torch.from_numpy(self.clap).float().expand(b, -1).clone()
            elif "clap" not in batch:  # a silent video without a reference: refused at start-up (check_videos)
                raise ValueError(f"{batch['meta'][0]['source']}: no audio and no --data.clap_reference")
            if self.env is not None:
                length = int(round(float(batch["seconds_total"][0]) * self.sample_rate))
                batch["audio"] = torch.stack([self._segment(m, length) for m in batch["meta"]])
                for key in ("envelope", "envelope_latent", "control_envelope"):
                    batch.pop(key, None)
            yield batch

    def _segment(self, meta: dict, length: int) -> torch.Tensor:
        a0 = int(round(float(meta["start"]) * self.sample_rate))
        seg = self.env[:, a0 : a0 + length]
        if seg.shape[1] < length:  # the reference is shorter than the video: silence after its end
            seg = np.pad(seg, ((0, 0), (0, length - seg.shape[1])))
        peak = float(np.abs(seg).max())
        return torch.from_numpy(seg / peak if peak > 1e-8 else seg).float()  # peak-normalised like training


_CLAP_ENCODERS: dict[tuple[str | None, bool], Any] = {}


def reference_clap(path: str, models: Any) -> np.ndarray:
    """(512,) CLAP embedding of a reference recording, with the extraction's CLAP checkpoint (the encoder is
    built once per checkpoint and process: a demo server embeds a new reference at every request)."""
    from stereosync.clap import ClapAudioEncoder
    from stereosync.media import read_audio

    key = (getattr(models, "clap_checkpoint", None), bool(getattr(models, "clap_fusion", True)))
    if key not in _CLAP_ENCODERS:
        _CLAP_ENCODERS[key] = ClapAudioEncoder(key[0], enable_fusion=key[1])
    encoder = _CLAP_ENCODERS[key]
    emb = encoder.embed_numpy(read_audio(path, ClapAudioEncoder.sample_rate), ClapAudioEncoder.sample_rate)
    return np.asarray(emb, np.float32).reshape(CLAP_DIM)
