"""Labelled frames for the tiny vision models: synthetic scenes through a real mp4 encode/decode.

Each scene of the generator (:func:`stereosync.data.synthetic.generate_scene`) is written as an mp4 and
decoded by the extraction's own decoder (:func:`stereosync.extract.decode.iter_chunks`), so the frames carry
the codec's noise and are picked on the same 30-fps box and 4-fps depth grids as in an extraction. Labels
are the generator's true boxes (box grid) and depth maps (depth grid).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 8000  # the audio is not used; a low rate keeps generation fast


@dataclass
class LabelledVideo:
    """One decoded scene with its ground truth.

    Attributes:
        seed: scene seed.
        box_frames: (F, H, W, 3) uint8 frames at 30 fps (whole chunks only).
        box_times: (F,) s.
        boxes: (F, K, 4) true boxes, normalised [x0, y0, x1, y1].
        box_mask: (F, K) bool, True where character slot k exists.
        depth_frames: (D, H, W, 3) uint8 frames at 4 fps.
        depth: (D, h, w) float32 true nearness maps of those frames.
    """

    seed: int
    box_frames: np.ndarray
    box_times: np.ndarray
    boxes: np.ndarray
    box_mask: np.ndarray
    depth_frames: np.ndarray
    depth: np.ndarray


def labelled_video(seed: int, workdir: str | Path, duration: float = 6.0) -> LabelledVideo:
    """Generate scene ``seed``, write its mp4 into ``workdir``, decode it and pair frames with the truth."""
    from stereosync.data.synthetic import generate_scene, write_mp4
    from stereosync.extract.decode import DecodeConfig, DecodeReport, iter_chunks

    scene = generate_scene(seed, duration=duration, sample_rate=SAMPLE_RATE)
    path = write_mp4(scene, Path(workdir) / f"scene_{seed}.mp4")
    chunks = list(iter_chunks(path, DecodeConfig(sample_rate=SAMPLE_RATE), DecodeReport()))
    path.unlink()
    box_times = np.concatenate([c.box_times for c in chunks])
    box_idx = np.clip(np.round(box_times * scene.video_fps).astype(int), 0, len(scene.boxes) - 1)
    depth_frames = np.concatenate([c.depth_frames for c in chunks])
    return LabelledVideo(
        seed=seed,
        box_frames=np.concatenate([c.box_frames for c in chunks]),
        box_times=box_times,
        boxes=scene.boxes[box_idx],
        box_mask=scene.box_mask[box_idx],
        depth_frames=depth_frames,
        depth=scene.depth[: len(depth_frames)],
    )


def labelled_videos(seeds: Sequence[int], duration: float = 6.0, progress: bool = False) -> list[LabelledVideo]:
    """:func:`labelled_video` of every seed (the mp4s are written to a temporary folder and removed)."""
    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory(prefix="tiny-vision-") as tmp:
        return [labelled_video(s, tmp, duration) for s in tqdm(seeds, desc="scenes", disable=not progress)]


def frame_seeds(split: str, count: int, seed: int = 0) -> list[int]:
    """Scene seeds of a named split (e.g. ``tiny-vision-train``, ``tiny-vision-heldout``); splits never share."""
    from stereosync.data.synthetic import scene_seed

    return [scene_seed(seed, split, i) for i in range(count)]
