"""Synthetic spatial benchmark: scenes with known ground truth, their mp4s and shards.

A scene is one or two characters walking on a floor in perspective; each footstep is panned by the
character's box centre with the constant-power law and attenuated by distance (see :mod:`.scene`); frames,
boxes and depth maps come from the same tracks (see :mod:`.render`). The same footsteps are also rendered
binaurally and as first-order ambisonics from the same directions (:mod:`stereosync.spatial.scene_render`).
Everything is deterministic from the scene seed. Command line::

    python -m stereosync.data.synthetic --out data/synth --num-scenes 64 --split train
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stereosync.data import render
from stereosync.data import scene as scene_model
from stereosync.data.schema import CLAP_DIM, DEPTH_FPS, SCHEMA_VERSION, make_meta
from stereosync.envelope import rms_envelope
from stereosync.spatial.ambisonics import DIFFUSE_DIRECTIONAL_GAIN
from stereosync.spatial.scene_render import SpatialRender

log = logging.getLogger(__name__)

GENERATOR_VERSION = 3  # bump when scenes change, so ensure_synthetic_dataset rewrites old data
SECOND_CHARACTER_P = 0.35
MARKER = "synthetic.json"
ClapEncoder = Callable[[np.ndarray, int], np.ndarray]


@dataclass
class Scene:
    """One generated scene with its ground truth.

    Attributes:
        audio: (2, S) float32 stereo waveform in [-1, 1] at ``sample_rate``.
        sample_rate: Hz.
        frames: (N, H, W, 3) uint8 RGB video frames at ``video_fps``; frame i shows time i / fps.
        video_fps: frames per second.
        boxes: (N, K, 4) float32 [x0, y0, x1, y1] per frame and character slot, normalised to [0, 1]
            (zeros where masked).
        box_mask: (N, K) bool, True where the character exists (K = ``max_characters``).
        depth: (ND, h, w) float32 ground-truth depth maps at 4 fps in [0, 1] (near = 1).
        step_times: (M,) footstep onset times in s, sorted (all characters).
        seed: the scene seed.
        duration: scene length in s.
        step_character: (M,) character slot of each footstep.
        materials: footstep material of each character.
        binaural: (2, S) float32 [left, right] ear signals of the same scene (KEMAR HRIRs); (2, 0) if absent.
        foa: (4, S) float32 first-order ambisonics, ambiX (ACN W, Y, Z, X; SN3D); (4, 0) if absent.
    """

    audio: np.ndarray
    sample_rate: int
    frames: np.ndarray
    video_fps: float
    boxes: np.ndarray
    box_mask: np.ndarray
    depth: np.ndarray
    step_times: np.ndarray
    seed: int
    duration: float
    step_character: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    materials: tuple[str, ...] = ()
    binaural: np.ndarray = field(default_factory=lambda: np.zeros((2, 0), np.float32))
    foa: np.ndarray = field(default_factory=lambda: np.zeros((4, 0), np.float32))


def generate_scene(
    seed: int,
    duration: float = 6.0,
    sample_rate: int = 44100,
    video_fps: float = 30.0,
    width: int = 256,
    height: int = 144,
    max_characters: int = 2,
    depth_size: tuple[int, int] = (36, 64),
) -> Scene:
    """Generate one scene, deterministically from ``seed``.

    Args:
        seed: scene seed.
        duration: length in s.
        sample_rate: audio rate in Hz.
        video_fps: video (and box) frame rate.
        width: frame width in pixels (even, for yuv420p).
        height: frame height in pixels (even).
        max_characters: K, the number of box slots; a second character appears in some scenes when K >= 2.
        depth_size: (h, w) of the ground-truth depth maps.
    """
    if max_characters < 1:
        raise ValueError(f"max_characters must be >= 1, got {max_characters}")
    # the fourth stream (3-D ambience) leaves the first three, and so the stereo scene, as they always were
    layout_ss, audio_ss, video_ss, foa_ss = np.random.SeedSequence(seed).spawn(4)
    rng = np.random.default_rng(layout_ss)
    n_chars = 2 if max_characters >= 2 and rng.random() < SECOND_CHARACTER_P else 1
    materials = tuple(str(m) for m in rng.choice(list(scene_model.MATERIALS), size=n_chars, replace=False))
    side = int(rng.choice([-1, 1]))
    tracks = [
        scene_model.make_track(rng, duration, side * (-1) ** k, m, level=rng.uniform(0.5, 1.0))
        for k, m in enumerate(materials)
    ]

    num_samples = int(round(duration * sample_rate))
    spatial = SpatialRender(num_samples, sample_rate)
    audio, binaural, foa = _mix_audio(
        np.random.default_rng(audio_ss), tracks, num_samples, sample_rate, spatial, foa_ss
    )
    t_video = np.arange(int(round(duration * video_fps))) / video_fps
    vrng = np.random.default_rng(video_ss)
    frames = render.render_frames(vrng, tracks, t_video, height, width)
    boxes = np.zeros((len(t_video), max_characters, 4), np.float32)
    box_mask = np.zeros((len(t_video), max_characters), bool)
    for k, tr in enumerate(tracks):
        boxes[:, k], box_mask[:, k] = tr.box(t_video), True
    depth = render.render_depth(tracks, np.arange(int(round(duration * DEPTH_FPS))) / DEPTH_FPS, *depth_size)
    step_t = np.concatenate([tr.step_t for tr in tracks])
    step_k = np.concatenate([np.full(len(tr.step_t), k) for k, tr in enumerate(tracks)])
    order = np.argsort(step_t, kind="stable")
    return Scene(
        audio,
        sample_rate,
        frames,
        float(video_fps),
        boxes,
        box_mask,
        depth,
        step_t[order],
        int(seed),
        float(duration),
        step_k[order],
        materials,
        binaural,
        foa,
    )


def _mix_audio(
    rng: np.random.Generator,
    tracks: Sequence[scene_model.Track],
    num_samples: int,
    sample_rate: int,
    spatial: SpatialRender,
    foa_seed: np.random.SeedSequence,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Footsteps plus light ambience (62-70 dB under the step peak), peak-scaled to a random level.

    Returns:
        stereo (2, S), binaural (2, S) and FOA (4, S) float32, all with the stereo mix's scale factor. The
        binaural render shares the stereo room tone (independent per ear, as a diffuse field roughly is); the
        FOA one draws its own from ``foa_seed``, diffuse in SN3D (Y, Z, X at 1/√3 of W).
    """
    steps = scene_model.render_steps(rng, list(tracks), num_samples, sample_rate, on_step=spatial.add)
    ref = float(np.abs(steps).max()) or 1.0  # a scene without steps keeps its ambience light
    rms = ref * 10 ** (-rng.uniform(62, 70) / 20)
    room = scene_model.ambience(rng, num_samples, sample_rate, rms=rms)
    scale = rng.uniform(0.3, 0.9) / ref
    frng = np.random.default_rng(foa_seed)
    foa_room = np.concatenate([scene_model.ambience(frng, num_samples, sample_rate, rms=rms) for _ in range(2)])
    foa_room[1:] *= DIFFUSE_DIRECTIONAL_GAIN
    return (
        ((steps + room) * scale).astype(np.float32),
        ((spatial.binaural + room) * scale).astype(np.float32),
        ((spatial.foa + foa_room) * scale).astype(np.float32),
    )


def write_mp4(scene: Scene, path: str | os.PathLike) -> Path:
    """Write the scene as an mp4 (H.264 or MPEG-4 video at ``video_fps``, stereo AAC at ``sample_rate``)."""
    return render.encode_mp4(path, scene.frames, scene.video_fps, scene.audio, scene.sample_rate)


def scene_to_samples(
    scene: Scene,
    chunk_seconds: float = 2.0,
    clap_encoder: ClapEncoder | None = None,
    source: str | None = None,
    key_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """Cut a scene into non-overlapping schema samples, one per ``chunk_seconds``.

    The envelope (mono mode) is computed over the whole scene and then cut, so a chunk's first samples
    carry the true loudness rather than the causal window's warm-up.

    Args:
        scene: the scene.
        chunk_seconds: chunk length in s; a trailing partial chunk is dropped.
        clap_encoder: ``(audio (2, S) float32, sample_rate) -> (512,)`` embedding; None stores zeros and
            ``"clap": "none"`` in the json.
        source: source name for the json (default ``synthetic-seed<seed>``).
        key_prefix: sample key prefix (default ``synth<seed>``); keys are ``<prefix>_<chunk:03d>``.

    Returns:
        Samples ``{"__key__", "json", "audio" (2, S), "envelope" (2, S), "depth" (FD, h, w),
        "boxes" (FB, K, 4), "box_mask" (FB, K), "clap" (512,), "motion" (FB, M), "events" (E, 2), "binaural" (2, S),
        "foa" (4, S)}`` (the last two when the scene has them). ``events`` holds each footstep whose onset falls in
        the chunk as [onset in s from the chunk's start, character slot k] ((0, 2) when none). ``motion`` comes from
        the rendered frames through :func:`stereosync.motion.motion_features`, as the extraction computes it from
        decoded ones.
    """
    from stereosync.motion import motion_features

    sr, fps = scene.sample_rate, scene.video_fps
    envelope = rms_envelope(torch.from_numpy(scene.audio), sr, mode="mono").numpy()
    motion = motion_features(scene.frames, scene.boxes, scene.box_mask)  # whole scene: row i sees frame i - 1
    n_audio, n_box, n_depth = (int(round(chunk_seconds * r)) for r in (sr, fps, DEPTH_FPS))
    clap_name = "none" if clap_encoder is None else getattr(clap_encoder, "name", type(clap_encoder).__name__)
    samples = []
    for i in range(int(np.floor(scene.duration / chunk_seconds + 1e-9))):
        start = i * chunk_seconds
        a0, b0, d0 = (int(round(start * r)) for r in (sr, fps, DEPTH_FPS))
        audio = np.ascontiguousarray(scene.audio[:, a0 : a0 + n_audio])
        in_chunk = (scene.step_times >= start) & (scene.step_times < start + chunk_seconds)
        events = np.stack([scene.step_times[in_chunk] - start, scene.step_character[in_chunk]], axis=1)
        clap = (
            np.zeros(CLAP_DIM, np.float32)
            if clap_encoder is None
            else np.asarray(clap_encoder(audio, sr), np.float32).reshape(CLAP_DIM)
        )
        meta = make_meta(
            source or f"synthetic-seed{scene.seed}",
            start,
            duration=chunk_seconds,
            sample_rate=sr,
            depth_fps=DEPTH_FPS,
            box_fps=fps,
            scene_seed=scene.seed,
            clap=clap_name,
            generator=f"stereosync.data.synthetic v{GENERATOR_VERSION}",
            envelope_mode="mono",
            materials=list(scene.materials),
        )
        samples.append(
            {
                "__key__": f"{key_prefix or f'synth{scene.seed}'}_{i:03d}",
                "json": meta,
                "audio": audio,
                "envelope": np.ascontiguousarray(envelope[:, a0 : a0 + n_audio]),
                "depth": scene.depth[d0 : d0 + n_depth],
                "boxes": scene.boxes[b0 : b0 + n_box],
                "box_mask": scene.box_mask[b0 : b0 + n_box],
                "clap": clap,
                "motion": motion[b0 : b0 + n_box],
                **{k: np.ascontiguousarray(v[:, a0 : a0 + n_audio]) for k, v in _spatial(scene).items()},
                "events": events.astype(np.float32).reshape(-1, 2),
            }
        )
    return samples


def _spatial(scene: Scene) -> dict[str, np.ndarray]:
    """The scene's binaural and FOA renders, those it has (a scene built without them has (C, 0) arrays)."""
    return {k: v for k, v in (("binaural", scene.binaural), ("foa", scene.foa)) if v.shape[-1] == scene.audio.shape[-1]}


def scene_seed(seed: int, split: str, index: int) -> int:
    """Seed of scene ``index`` of ``split``: distinct streams per (seed, split, index), so splits never share."""
    ss = np.random.SeedSequence([seed, zlib.crc32(split.encode()), index])
    return int(ss.generate_state(1, dtype=np.uint64)[0]) >> 1  # 63 bits: a valid int64 and json number


def _params(
    num_scenes: int,
    seed: int,
    split: str,
    sample_rate: int,
    duration: float,
    write_mp4s: bool,
    write_shards: bool,
    samples_per_shard: int,
    clap_encoder: ClapEncoder | None,
) -> dict[str, Any]:
    clap = "none" if clap_encoder is None else getattr(clap_encoder, "name", type(clap_encoder).__name__)
    return {
        "num_scenes": num_scenes,
        "seed": seed,
        "split": split,
        "sample_rate": sample_rate,
        "duration": duration,
        "write_mp4s": write_mp4s,
        "write_shards": write_shards,
        "samples_per_shard": samples_per_shard,
        "clap": clap,
        "generator_version": GENERATOR_VERSION,
        "schema_version": SCHEMA_VERSION,
    }


def write_synthetic_dataset(
    out_dir: str | os.PathLike,
    num_scenes: int,
    seed: int = 0,
    split: str = "train",
    sample_rate: int = 44100,
    duration: float = 6.0,
    write_mp4s: bool = True,
    write_shards: bool = True,
    samples_per_shard: int = 32,
    clap_encoder: ClapEncoder | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate ``num_scenes`` scenes into ``out_dir/<split>/videos/*.mp4`` and ``out_dir/<split>/shards/``.

    Old ``<split>-*.tar`` shards of the folder are removed first; a marker json (parameters, shards, counts)
    is written last, so :func:`ensure_synthetic_dataset` can tell complete data from a killed run.

    Returns:
        Summary: the parameters, ``shards`` (paths), ``videos`` (count), ``samples``, ``seconds`` and
        ``seconds_per_scene``.
    """
    from tqdm.auto import tqdm

    from stereosync.data.shards import ShardWriter

    root = Path(out_dir) / split
    params = _params(
        num_scenes, seed, split, sample_rate, duration, write_mp4s, write_shards, samples_per_shard, clap_encoder
    )
    shard_dir, video_dir = root / "shards", root / "videos"
    (root / MARKER).unlink(missing_ok=True)
    for old in list(shard_dir.glob(f"{split}-*.tar")) + list(shard_dir.glob(f"{split}-*.tar.partial")):
        old.unlink()
    t0, num_samples, videos, shards = time.perf_counter(), 0, 0, []
    writer = ShardWriter(shard_dir, prefix=split, max_count=samples_per_shard) if write_shards else None
    for index in tqdm(range(num_scenes), desc=f"synthetic {split}", unit="scene", disable=not progress):
        name = f"{split}_{index:06d}"
        scene = generate_scene(scene_seed(seed, split, index), duration=duration, sample_rate=sample_rate)
        if write_mp4s:
            write_mp4(scene, video_dir / f"{name}.mp4")
            videos += 1
        if writer is not None:
            for sample in scene_to_samples(
                scene, clap_encoder=clap_encoder, source=f"{split}/videos/{name}.mp4", key_prefix=name
            ):
                writer.write(sample)
                num_samples += 1
    if writer is not None:
        shards = [str(p) for p in writer.close()]
    seconds = time.perf_counter() - t0
    summary = {
        **params,
        "shards": shards,
        "videos": videos,
        "samples": num_samples,
        "seconds": round(seconds, 3),
        "seconds_per_scene": round(seconds / max(num_scenes, 1), 3),
    }
    tmp = root / (MARKER + ".partial")
    tmp.parent.mkdir(parents=True, exist_ok=True)  # shard paths relative to the split folder: data can move
    tmp.write_text(json.dumps({**summary, "shards": [str(Path(p).relative_to(root)) for p in shards]}, indent=1))
    os.replace(tmp, root / MARKER)
    log.info(
        "wrote %d scenes (%d samples, %d shards) to %s in %.1f s", num_scenes, num_samples, len(shards), root, seconds
    )
    return summary


def ensure_synthetic_dataset(
    out_dir: str | os.PathLike,
    num_scenes: int,
    seed: int = 0,
    split: str = "train",
    sample_rate: int = 44100,
    duration: float = 6.0,
    write_mp4s: bool = True,
    write_shards: bool = True,
    samples_per_shard: int = 32,
    clap_encoder: ClapEncoder | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Like :func:`write_synthetic_dataset`, but only when ``out_dir/<split>`` lacks a complete, matching copy.

    Complete means: the marker json exists, its parameters equal these, and every shard it lists exists.
    The returned summary has ``"skipped": True`` when nothing was written.
    """
    root = Path(out_dir) / split
    marker = root / MARKER
    params = _params(
        num_scenes, seed, split, sample_rate, duration, write_mp4s, write_shards, samples_per_shard, clap_encoder
    )
    if marker.is_file():
        try:
            summary = json.loads(marker.read_text())
        except ValueError:
            summary = {}
        shards = [root / p for p in summary.get("shards", [])]
        if {k: summary.get(k) for k in params} == params and all(p.is_file() for p in shards):
            log.info("synthetic %s data in %s is complete; not regenerating", split, root)
            return {**summary, "shards": [str(p) for p in shards], "skipped": True}
    return {
        **write_synthetic_dataset(
            out_dir,
            num_scenes,
            seed,
            split,
            sample_rate,
            duration,
            write_mp4s,
            write_shards,
            samples_per_shard,
            clap_encoder,
            progress,
        ),
        "skipped": False,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """The console script (``stereosync-synth``, ``python -m stereosync.data.synthetic``): see
    :mod:`stereosync.data.synthetic_cli`."""
    from stereosync.data.synthetic_cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    raise SystemExit(main())
