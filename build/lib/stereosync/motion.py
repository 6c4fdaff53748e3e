"""Visual timing features: how much the picture moves, frame by frame, globally and inside each tracked box.

One row per frame of the 30-fps box grid, computed from pixels only (no model): the extraction calls
:func:`motion_features` on decoded frames and the synthetic generator on the frames it renders, so both give
the same numbers up to codec noise. The envelope predictor (:mod:`stereosync.models.envelope_predictor`)
reads them to voice a video that has no soundtrack.

Frames are converted to grey and scaled so their long side is ``ANALYSIS_SIDE`` pixels (the numbers do not
depend on the source resolution, and codec noise averages out). For the pair (previous frame, this frame),
each region gets three statistics:

- ``diff``: mean absolute grey-level difference, in [0, 1];
- ``flow``: mean Farnebäck optical-flow magnitude, in frame widths per frame;
- ``flow_y``: mean vertical flow (positive = downwards), in frame widths per frame.

Regions, in column order: the whole frame, its top half, its bottom half, then per tracked object k the top
and bottom halves of its box (zeros where the object is absent). The first row of a clip compares the first
frame with ``previous`` when given (the frame before it), else with itself (all zeros).
"""

from __future__ import annotations

import numpy as np

ANALYSIS_SIDE = 128
STATS = ("diff", "flow", "flow_y")
FRAME_REGIONS = ("frame", "frame_top", "frame_bottom")
_FARNEBACK = (0.5, 3, 9, 3, 5, 1.1, 0)  # pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags


def feature_names(num_objects: int) -> list[str]:
    """Column names of :func:`motion_features` for K tracked objects (``<region>.<stat>``)."""
    regions = list(FRAME_REGIONS) + [f"box{k}_{half}" for k in range(num_objects) for half in ("top", "bottom")]
    return [f"{r}.{s}" for r in regions for s in STATS]


def num_features(num_objects: int) -> int:
    """Width M of a motion row for K tracked objects."""
    return len(STATS) * (len(FRAME_REGIONS) + 2 * num_objects)


def _grey(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB → (N, h, w) uint8 grey with long side ``ANALYSIS_SIDE``."""
    import cv2

    n, h, w = frames.shape[:3]
    scale = ANALYSIS_SIDE / max(h, w)
    size = (max(2, int(round(w * scale))), max(2, int(round(h * scale))))
    out = np.empty((n, size[1], size[0]), np.uint8)
    for i, f in enumerate(frames):
        g = cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY)
        out[i] = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
    return out


def _region_slices(box: np.ndarray, h: int, w: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    x0, y0, x1, y1 = np.clip(box, 0.0, 1.0)
    c0, c1 = int(np.floor(x0 * w)), max(int(np.ceil(x1 * w)), int(np.floor(x0 * w)) + 1)
    r0, r1 = int(np.floor(y0 * h)), max(int(np.ceil(y1 * h)), int(np.floor(y0 * h)) + 1)
    rm = max(r0 + 1, (r0 + r1) // 2)
    cols = slice(min(c0, w - 1), min(c1, w))
    return (slice(min(r0, h - 1), min(rm, h)), cols), (slice(min(rm, h - 1), min(max(r1, rm + 1), h)), cols)


def motion_features(
    frames: np.ndarray,
    boxes: np.ndarray,
    box_mask: np.ndarray,
    previous: np.ndarray | None = None,
) -> np.ndarray:
    """Motion rows of a run of consecutive frames.

    Args:
        frames: (N, H, W, 3) uint8 RGB frames on the box grid.
        boxes: (N, K, 4) normalised ``[x0, y0, x1, y1]`` per frame and object.
        box_mask: (N, K) bool, True where the object is present.
        previous: (H, W, 3) uint8 frame just before ``frames[0]``, or None.

    Returns:
        (N, M) float32, M = :func:`num_features` (K); columns as :func:`feature_names`.
    """
    import cv2

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"motion_features: frames must be (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    n, k = boxes.shape[0], boxes.shape[1]
    if boxes.shape != (len(frames), k, 4) or box_mask.shape != (len(frames), k):
        raise ValueError(
            f"motion_features: boxes {boxes.shape} / box_mask {box_mask.shape} do not match {len(frames)} frames"
        )
    stack = frames if previous is None else np.concatenate([np.asarray(previous)[None], frames])
    grey = _grey(stack)
    h, w = grey.shape[1:]
    half = h // 2
    frame_regions = [(slice(0, h), slice(0, w)), (slice(0, half), slice(0, w)), (slice(half, h), slice(0, w))]
    out = np.zeros((n, num_features(k)), np.float32)
    offset = 0 if previous is None else 1
    for i in range(n):
        j = i + offset
        if j == 0:
            continue  # no earlier frame: no motion
        a, b = grey[j - 1], grey[j]
        diff = np.abs(b.astype(np.float32) - a.astype(np.float32)) / 255.0
        flow = cv2.calcOpticalFlowFarneback(a, b, None, *_FARNEBACK) / float(w)
        mag = np.sqrt((flow**2).sum(-1))
        maps = (diff, mag, flow[..., 1])
        regions = list(frame_regions)
        for obj in range(k):
            top, bottom = _region_slices(boxes[i, obj], h, w)
            regions += [top, bottom] if box_mask[i, obj] else [None, None]
        for r, sl in enumerate(regions):
            if sl is None:
                continue
            for s, m in enumerate(maps):
                patch = m[sl]
                out[i, r * len(STATS) + s] = float(patch.mean()) if patch.size else 0.0
    return out
