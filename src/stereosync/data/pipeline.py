"""WebDataset pipelines over schema shards: decoding, validation, skip accounting, augmentation, batching.

Lenient mode skips a bad sample (or the rest of a truncated tar), counts it per reason and warns once per
reason; the counts travel with the next batch as ``batch["skipped"]`` so the trainer can log them and nothing
is dropped silently. Strict mode raises the :class:`SchemaError` naming shard, key and problem.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from stereosync.data import transforms
from stereosync.data.schema import SchemaError, decode_member, validate

log = logging.getLogger(__name__)

TENSOR_KEYS = (
    "audio",
    "latent",
    "envelope",
    "envelope_latent",
    "depth",
    "depth_emb",
    "boxes",
    "box_mask",
    "clap",
    "motion",
    "binaural",
    "foa",
)


class SkipCounter:
    """Per-reason counts of skipped samples in this process; ``drain()`` hands them over once."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.pending: Counter = Counter()
        self.warned: set[str] = set()

    def skip(self, reason: str, err: BaseException) -> None:
        if self.strict:
            raise err
        self.pending[reason] += 1
        if reason not in self.warned:
            self.warned.add(reason)
            log.warning("skipping bad data (%s; further '%s' skips are counted, not logged): %s", reason, reason, err)

    def drain(self) -> dict[str, int]:
        out, self.pending = dict(self.pending), Counter()
        return out


def tar_samples(urls: Iterable[dict], counter: SkipCounter) -> Iterator[dict]:
    """Raw samples from shards; an unreadable/truncated tar is counted (reason ``tar``) and the rest kept."""
    import webdataset as wds

    def handler(err: BaseException) -> bool:
        counter.skip("tar", SchemaError(f"tar read error: {err!r}", shard=getattr(err, "url", None), reason="tar"))
        return True

    yield from wds.tarfile_to_samples(handler=handler)(urls)


def decode(raw: dict, counter: SkipCounter) -> dict | None:
    """Decode and validate one raw sample; None when it was skipped (and counted)."""
    shard, key = raw.get("__url__"), raw.get("__key__")
    try:
        sample: dict[str, Any] = {"__key__": key, "__url__": shard}
        for ext, data in raw.items():
            if ext.startswith("__"):
                continue
            name, value = decode_member(ext, data, shard=shard, key=key)
            sample[name] = value
        validate(sample, shard=shard, key=key)
        return sample
    except SchemaError as err:
        counter.skip(err.reason, err)
        return None


def augment(
    sample: dict,
    chunk_seconds: float,
    rng: np.random.Generator | None,
    peak_normalise: bool,
    polarity_flip: bool,
    target: str = "audio",
) -> dict:
    """Crop (random with ``rng``, else from 0), peak-normalise, make ``target`` the ``audio``, polarity-flip."""
    sample = transforms.crop(sample, chunk_seconds, rng)
    if peak_normalise:
        sample = transforms.peak_normalise(sample)
    sample = transforms.select_target(sample, target)
    if polarity_flip and rng is not None:
        sample = transforms.polarity_flip(sample, rng)
    return sample


def buffer_shuffle(samples: Iterator[dict], size: int, rng: random.Random) -> Iterator[dict]:
    """Reservoir-style shuffle with a seeded RNG (deterministic, unlike an unseeded ``wds.shuffle``)."""
    buf: list[dict] = []
    for s in samples:
        buf.append(s)
        if len(buf) >= size:
            yield buf.pop(rng.randrange(len(buf)))
    rng.shuffle(buf)
    yield from buf


def collate(samples: list[dict], skipped: dict[str, int]) -> dict[str, Any]:
    """Stack a list of samples into a batch.

    Returns:
        ``{member: tensor (B, ...)}`` for the members every sample has, ``seconds_start`` (B,) = 0 and
        ``seconds_total`` (B,) = chunk length, ``meta`` (list of json dicts), ``__key__`` (list),
        ``skipped`` (per-reason counts since the previous batch of this worker); when any sample carries
        ``events``, also ``events`` (B, Emax, 2), ``events_mask`` (B, Emax) and ``has_events`` (B,) (see
        :func:`pad_events`).
    """
    present = [k for k in TENSOR_KEYS if all(k in s for s in samples)]
    batch: dict[str, Any] = {k: torch.from_numpy(np.stack([np.asarray(s[k]) for s in samples])) for k in present}
    for k in present:
        if batch[k].dtype == torch.float16 or batch[k].dtype == torch.float64:
            batch[k] = batch[k].float()
    if any("events" in s for s in samples):
        batch.update(pad_events([s.get("events") for s in samples]))
    durations = [float(s["json"]["duration"]) for s in samples]
    batch["seconds_start"] = torch.zeros(len(samples))
    batch["seconds_total"] = torch.tensor(durations)
    batch["meta"] = [s["json"] for s in samples]
    batch["__key__"] = [s["__key__"] for s in samples]
    batch["skipped"] = skipped
    return batch


def pad_events(events: list[np.ndarray | None]) -> dict[str, torch.Tensor]:
    """Pad per-sample event lists of different lengths into one batch.

    Args:
        events: per sample an (E_i, 2) float array [onset in s from the chunk start, object index], or None
            for a sample without the member (shards older than schema version 3).

    Returns:
        ``events`` (B, Emax, 2) float32 (zeros where padded), ``events_mask`` (B, Emax) bool (True for real
        events) and ``has_events`` (B,) bool (False for a sample without the member: no ground truth, unlike a
        chunk with no footstep, which has the member with E = 0).
    """
    width = max((len(e) for e in events if e is not None), default=0)
    out = torch.zeros(len(events), width, 2)
    mask = torch.zeros(len(events), width, dtype=torch.bool)
    for i, e in enumerate(events):
        if e is not None and len(e):
            out[i, : len(e)] = torch.from_numpy(np.asarray(e, np.float32).reshape(-1, 2))
            mask[i, : len(e)] = True
    has = torch.tensor([e is not None for e in events], dtype=torch.bool)
    return {"events": out, "events_mask": mask, "has_events": has}


def batches(samples: Iterator[dict], batch_size: int, counter: SkipCounter, partial: bool) -> Iterator[dict]:
    """Group decoded samples into collated batches; skip counts ride along with the batch."""
    group: list[dict] = []
    for s in samples:
        group.append(s)
        if len(group) == batch_size:
            yield collate(group, counter.drain())
            group = []
    if group and partial:
        yield collate(group, counter.drain())
    elif counter.pending:
        log.warning("skipped at end of stream (not in any batch): %s", counter.drain())
