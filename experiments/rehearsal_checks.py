"""What each rehearsal stage must have written, checked from its files; every check raises
:class:`StageCheckError` naming the file and what was wrong, or returns a one-line summary for the table.

Shapes follow the shard schema (docs/data.md): per chunk of C seconds, ``audio`` (2, 44100·C), ``boxes``
(30·C, K, 4), ``depth_emb`` (4·C, 768), ``clap`` (512,), ``motion`` (30·C, M).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

RATE = 44100
BACKBONE_PREFIX = "model.backbone."


class StageCheckError(RuntimeError):
    """A stage exited 0 but its outputs are not what the recipe promises."""


def need(condition: bool, message: str) -> None:
    if not condition:
        raise StageCheckError(message)


def shards(folder: Path, chunk_seconds: float, sources: set[str], embed_dim: int = 768, objects: int = 1) -> str:
    """Every sample of ``folder``'s shards: 44.1-kHz stereo chunks of ``chunk_seconds`` with the recipe's widths."""
    from stereosync.data import pipeline

    urls = sorted(str(p) for p in folder.glob("shard-*.tar"))
    need(bool(urls), f"{folder}: no shard-*.tar written")
    counter, seen = pipeline.SkipCounter(strict=True), []
    frames = {"audio": round(RATE * chunk_seconds), "box": round(30 * chunk_seconds), "depth": round(4 * chunk_seconds)}
    for raw in pipeline.tar_samples(({"url": u} for u in urls), counter):
        s = pipeline.decode(raw, counter)
        where = f"{s['__url__']} sample {s['__key__']}"
        meta = s["json"]
        need(meta["sample_rate"] == RATE, f"{where}: sample_rate {meta['sample_rate']}, not {RATE}")
        need(meta["duration"] == chunk_seconds, f"{where}: duration {meta['duration']}, not {chunk_seconds}")
        expected = {
            "audio": (2, frames["audio"]),
            "boxes": (frames["box"], objects, 4),
            "box_mask": (frames["box"], objects),
            "depth_emb": (frames["depth"], embed_dim),
            "clap": (512,),
        }
        for key, shape in expected.items():
            need(key in s and tuple(s[key].shape) == shape, f"{where}: {key} {getattr(s.get(key), 'shape', None)}")
        need(s["motion"].shape[0] == frames["box"], f"{where}: motion {s['motion'].shape}")
        need(bool(np.isfinite(s["audio"]).all()) and float(np.abs(s["audio"]).max()) > 0, f"{where}: audio silent")
        seen.append(meta["source"])
    need(set(seen) == sources, f"{folder}: samples of {sorted(set(seen))}, expected {sorted(sources)}")
    return f"{len(seen)} chunks of {chunk_seconds:g} s, 44.1-kHz stereo, depth_emb {embed_dim}, K={objects}"


def doctor(log: Path) -> str:
    text = log.read_text(errors="replace")
    need(re.search(r"\d+ checks: all passed", text) is not None, f"{log}: the doctor did not pass every check")
    return re.search(r"(\d+ checks: all passed)", text).group(1)


def _checkpoint(path: Path) -> dict:
    import torch

    need(path.is_file(), f"{path}: no checkpoint")
    return torch.load(str(path), map_location="cpu", weights_only=False)


def at_step(path: Path, steps: int) -> str:
    """A Lightning checkpoint written after ``steps`` optimiser steps."""
    step = _checkpoint(path)["global_step"]
    need(step == steps, f"{path}: global_step {step}, expected {steps}")
    return f"{path.name} at step {steps}"


def trainable_only(path: Path, steps: int) -> tuple[dict, str]:
    """The checkpoint at ``steps`` holds trainable tensors only (no backbone key), all finite."""
    ckpt = _checkpoint(path)
    state = ckpt["state_dict"]
    need(ckpt["global_step"] == steps, f"{path}: global_step {ckpt['global_step']}, expected {steps}")
    frozen = [k for k in state if k.startswith(BACKBONE_PREFIX)]
    need(not frozen, f"{path}: {len(frozen)} backbone tensors saved, e.g. {frozen[:2]}")
    need(all(v.isfinite().all() for v in state.values() if v.is_floating_point()), f"{path}: non-finite weights")
    size = sum(v.numel() * v.element_size() for v in state.values()) / 2**30
    return ckpt, f"step {steps}, {len(state)} trainable tensors ({size:.2f} GiB), no backbone key"


def resumed(killed: Path, last: Path, log: Path, steps: int) -> str:
    """The resumed run restored the killed run's checkpoint and went on counting to ``steps``."""
    first = _checkpoint(killed)["global_step"]
    need(1 <= first < steps, f"{killed}: the killed run's checkpoint is at step {first}")
    need("Restoring states from the checkpoint" in log.read_text(errors="replace"), f"{log}: nothing restored")
    _, summary = trainable_only(last, steps)
    return f"resumed at step {first}; {summary}"


def same_keys(a: Path, b: Path) -> str:
    """The bf16-backbone run saves the same trainable tensors, in float32, as the fp32 run."""
    import torch

    sa, sb = _checkpoint(a)["state_dict"], _checkpoint(b)["state_dict"]
    need(set(sa) == set(sb), f"{b}: keys differ from {a} ({len(set(sa) ^ set(sb))} not shared)")
    dtypes = {v.dtype for v in sb.values() if v.is_floating_point()}
    need(dtypes == {torch.float32}, f"{b}: trainable weights stored as {dtypes}")
    return "same trainable keys as the fp32 run, float32 master weights"


def metric(log: Path, name: str) -> str:
    """A finite value of ``name`` in the results table Lightning prints."""
    found = re.search(re.escape(name) + r"\s*│\s*([-+0-9.eEnaif]+)", log.read_text(errors="replace"))
    need(found is not None, f"{log}: no {name} in the results")
    value = float(found.group(1))
    need(math.isfinite(value), f"{log}: {name} = {value}")
    return f"{name} {value:.3f}"


def wav(path: Path, seconds: float, channels: int = 2, tolerance: float = 0.05) -> str:
    """A 44.1-kHz file of ``channels`` channels, ``seconds`` long (± ``tolerance``), not silent, finite."""
    import soundfile

    need(path.is_file(), f"{path}: not written")
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    need(rate == RATE, f"{path}: {rate} Hz, not {RATE}")
    need(audio.shape[1] == channels, f"{path}: {audio.shape[1]} channels, not {channels}")
    need(abs(audio.shape[0] / rate - seconds) <= tolerance, f"{path}: {audio.shape[0] / rate:.3f} s, not {seconds} s")
    need(bool(np.isfinite(audio).all()) and float(np.abs(audio).max()) > 0, f"{path}: silent or non-finite")
    return f"{audio.shape[0] / rate:.2f} s of 44.1-kHz stereo"


def test_outputs(folder: Path, chunk_seconds: float) -> str:
    metrics = json.loads((folder / "metrics.json").read_text())
    need(metrics["sample_rate"] == RATE, f"{folder}/metrics.json: sample_rate {metrics['sample_rate']}")
    generated = sorted(p for p in (folder / "wav").glob("*.wav") if not p.name.endswith(".ref.wav"))
    need(bool(generated), f"{folder}/wav: no generated clip")
    for p in generated:
        wav(p, chunk_seconds)
    e_l1 = metrics["metrics"]["test/e_l1"]
    return f"{len(generated)} clip(s) of {chunk_seconds:g} s, 44.1-kHz stereo; test/e_l1 {e_l1:.3f}"


def video_audio(path: Path, seconds: float) -> str:
    """The output video carries a stereo 44.1-kHz track as long as the picture."""
    import av

    need(path.is_file(), f"{path}: not written")
    with av.open(str(path)) as container:
        need(bool(container.streams.video), f"{path}: no video stream")
        need(bool(container.streams.audio), f"{path}: no audio stream")
        stream = container.streams.audio[0]
        need(stream.rate == RATE and stream.channels == 2, f"{path}: audio {stream.channels} ch at {stream.rate} Hz")
    return "video with its stereo 44.1-kHz track"


def predictor(path: Path, objects: int) -> str:
    from stereosync.models.envelope_predictor import file_info

    config, rate = file_info(path)
    need(rate == RATE, f"{path}: trained at {rate} Hz, not {RATE}")
    need(config["num_objects"] == objects, f"{path}: K={config['num_objects']}, not {objects}")
    return f"exported, trained on 44.1-kHz shards, K={objects}"
