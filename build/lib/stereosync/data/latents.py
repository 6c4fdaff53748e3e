"""Precompute VAE latents into existing shards, so the training step never runs the VAE encoder.

Adds ``latent`` (the pretransform output of ``audio``, unscaled) and ``envelope_latent`` (that of the envelope,
the ControlNet input) to every sample and writes the shards again under the same names, validating each sample
against the schema. On SAO the Oobleck encoder costs about as much per 2-s clip on a CPU as a whole training
step of the DiT (docs/design.md#departures); with both latents stored, the step only reads them.

Audio and envelope are peak-normalised before encoding (docs/design.md#training) and written back normalised, so
the loader's
own peak normalisation is then a no-op and the stored latents stay consistent with the stored waveforms. Latents
cannot follow a random crop or a polarity flip: write shards at the training chunk length. Command line::

    python -m stereosync.data.latents --shards data/shards/train --model-config sao_1_0 \\
        --weights ~/stable-audio-open-1.0 --out data/shards-latent/train
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from stereosync.data import pipeline, transforms
from stereosync.data.schema import encode_sample, validate
from stereosync.envelope import rms_envelope

log = logging.getLogger(__name__)

LatentDtype = Literal["float16", "float32"]
DROPPABLE = ("audio", "envelope")


def shard_paths(specs: Sequence[str | os.PathLike]) -> list[Path]:
    """``.tar`` files from folders (every ``*.tar`` inside, sorted) and files."""
    paths: list[Path] = []
    for spec in specs:
        p = Path(spec)
        paths.extend(sorted(p.glob("*.tar")) if p.is_dir() else [p])
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise FileNotFoundError(f"no shards found: {missing or list(map(str, specs))}")
    return paths


def read_shard(path: Path) -> Iterator[dict[str, Any]]:
    """Decoded, schema-validated samples of one shard; a bad sample raises (this tool rewrites data)."""
    counter = pipeline.SkipCounter(strict=True)
    for raw in pipeline.tar_samples([{"url": str(path)}], counter):
        yield pipeline.decode(raw, counter)


class LatentEncoder:
    """Batched pretransform encoding of audio and envelopes (unscaled latents).

    Args:
        model_config: backbone model config (``"tiny"``, ``"sao_1_0"``, a json path).
        weights: backbone weights (file or folder); ``None`` keeps random weights (tests only).
        device: where the pretransform runs.
        envelope_mode: envelope computed from ``audio`` when a sample stores none (docs/design.md#streams).
    """

    def __init__(
        self,
        model_config: str = "sao_1_0",
        weights: str | None = None,
        device: str = "cpu",
        envelope_mode: Literal["mono", "stereo"] = "mono",
    ):
        from stereosync.models.backbone import Backbone

        self.backbone = Backbone(model_config, weights=weights, latent_scale=1.0).to(device)
        self.device, self.envelope_mode = torch.device(device), envelope_mode
        self.model_config = str(model_config)

    def encode(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """(C, S) waveforms of one length → (C_latent, L) unscaled latents (float32)."""
        x = torch.from_numpy(np.stack(waves)).float().to(self.device)
        return list(self.backbone.encode(x).cpu().numpy())

    def process(self, samples: list[dict], dtype: LatentDtype, envelope_latent: bool, drop: Sequence[str]) -> None:
        """Add ``latent`` (and ``envelope_latent``) to samples in place; they must share one length."""
        for s in samples:
            if "audio" not in s:
                raise ValueError(f"sample {s['__key__']} ({s['__url__']}) has no audio to encode")
            if int(s["json"]["sample_rate"]) != self.backbone.sample_rate:
                raise ValueError(
                    f"sample {s['__key__']}: audio at {s['json']['sample_rate']} Hz, the model runs at "
                    f"{self.backbone.sample_rate} Hz (--model-config)"
                )
            s.update(transforms.peak_normalise(s))
            if envelope_latent and "envelope" not in s:
                audio = torch.from_numpy(s["audio"]).float()
                s["envelope"] = rms_envelope(audio, self.backbone.sample_rate, self.envelope_mode).numpy()
        for s, lat in zip(samples, self.encode([s["audio"] for s in samples])):
            s["latent"] = lat.astype(dtype)
        if envelope_latent:
            for s, lat in zip(samples, self.encode([_stereo(s["envelope"]) for s in samples])):
                s["envelope_latent"] = lat.astype(dtype)
        for s in samples:
            s["json"] = dict(
                s["json"],
                latents={
                    "model_config": self.model_config,
                    "weights": self.backbone.weights_path.name if self.backbone.weights_path else None,
                    "dtype": dtype,
                    "peak_normalised": True,
                    "envelope_mode": s["json"].get("envelope_mode", self.envelope_mode),
                    "dropped": sorted(drop),
                },
            )
            for name in drop:
                s.pop(name, None)


def _stereo(envelope: np.ndarray) -> np.ndarray:
    return np.repeat(envelope, 2, axis=0) if envelope.shape[0] == 1 else envelope


def write_shard(samples: list[dict], path: Path) -> None:
    """Validate and write samples to ``path`` atomically (``.partial`` then rename)."""
    import webdataset as wds

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path) + ".partial"
    with wds.TarWriter(tmp) as tar:
        for s in samples:
            validate(s, shard=str(path), key=s["__key__"])
            tar.write(encode_sample({k: v for k, v in s.items() if k != "__url__"}))
    os.replace(tmp, path)


def add_latents(
    shards: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    encoder: LatentEncoder,
    dtype: LatentDtype = "float32",
    envelope_latent: bool = True,
    drop: Sequence[str] = (),
    batch_size: int = 8,
    progress: bool = True,
) -> list[Path]:
    """Rewrite ``shards`` into ``out`` (same file names) with latents added.

    Args:
        shards: shard files or folders.
        out: output folder (must differ from the input folders).
        encoder: the pretransform wrapper.
        dtype: storage dtype of the latents.
        envelope_latent: also store the envelope's latent (the training step then needs neither VAE nor audio).
        drop: members to leave out of the new shards (``audio``, ``envelope``): smaller, faster shards for
            training; keep ``audio`` for validation/test shards (metrics compare waveforms).
        batch_size: samples encoded together.
        progress: show a progress bar.

    Returns:
        The shards written.
    """
    from tqdm.auto import tqdm

    bad = [d for d in drop if d not in DROPPABLE]
    if bad:
        raise ValueError(f"--drop accepts {DROPPABLE}, got {bad}")
    out = Path(out)
    paths = shard_paths(shards)
    if any(p.parent.resolve() == out.resolve() for p in paths):
        raise ValueError(f"--out {out} holds input shards: write to another folder")
    written = []
    for path in tqdm(paths, desc="latents", unit="shard", disable=not progress):
        samples = list(read_shard(path))
        for i in range(0, len(samples), batch_size):
            with torch.inference_mode():
                for group in _same_length(samples[i : i + batch_size]):
                    encoder.process(group, dtype, envelope_latent, drop)
        write_shard(samples, out / path.name)
        written.append(out / path.name)
    log.info("wrote %d shards with latents to %s", len(written), out)
    return written


def _same_length(samples: list[dict]) -> list[list[dict]]:
    groups: dict[int, list[dict]] = {}
    for s in samples:
        groups.setdefault(s["audio"].shape[-1], []).append(s)
    return list(groups.values())


def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", nargs="+", required=True, help="input shard folders or .tar files")
    parser.add_argument("--model-config", default="sao_1_0", help="backbone model config: tiny, sao_1_0 or json")
    parser.add_argument("--weights", default=None, help="backbone weights file/folder (default $STEREOSYNC_SAO_DIR)")
    parser.add_argument("--out", required=True, help="output folder (same shard names)")
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float32", help="latent storage dtype")
    parser.add_argument("--no-envelope-latent", action="store_true", help="do not store the envelope's latent")
    parser.add_argument("--envelope-mode", choices=["mono", "stereo"], default="mono", help="if no stored envelope")
    parser.add_argument("--drop", nargs="*", default=[], choices=DROPPABLE, help="members to leave out")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    encoder = LatentEncoder(args.model_config, args.weights, args.device, args.envelope_mode)
    return add_latents(
        args.shards, args.out, encoder, args.dtype, not args.no_envelope_latent, args.drop, args.batch_size
    )


if __name__ == "__main__":
    main()
