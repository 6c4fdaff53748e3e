"""Depth maps without a depth model: the synthetic room's floor plus each tracked box at a distance from its height.

For real footage with the tiny recipe (whose checkpoint reads 36 x 64 nearness maps of the synthetic room) no
depth model is available offline. :class:`BoxDepth` writes the map the synthetic generator would draw for the
tracked boxes: the empty room's nearness (:func:`stereosync.data.render.depth_background`) with each box
filled by the nearness of a person of that height in the synthetic camera (``BODY_HEIGHT`` of the frame at
``DIST_NEAR`` metres, so distance = ``DIST_NEAR * BODY_HEIGHT / box height``). Farther boxes are painted
first, as the generator does. ``mode="room"`` writes the empty room only (a map blind to the people).
"""

from __future__ import annotations

import numpy as np
import torch

BOX_DEPTH = "boxes"
ROOM_DEPTH = "room"


def box_nearness(boxes: np.ndarray) -> np.ndarray:
    """Normalised boxes (..., 4) -> nearness (...) in [0, 1] of a synthetic-camera person of that height."""
    from stereosync.data.scene import BODY_HEIGHT, DIST_NEAR, nearness

    height = np.clip(boxes[..., 3] - boxes[..., 1], 1e-3, None)
    return nearness(DIST_NEAR * BODY_HEIGHT / height).astype(np.float32)


def paint_boxes(room: np.ndarray, boxes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The room map (h, w) with the present boxes (K, 4) (normalised; ``mask`` (K,)) filled, farthest first."""
    h, w = room.shape
    out = room.copy()
    near = box_nearness(boxes)
    for k in np.argsort(near):
        if not mask[k]:
            continue
        x0, y0, x1, y1 = np.round(boxes[k] * [w, h, w, h]).astype(int)
        out[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)] = near[k]
    return out


class BoxDepth:
    """Depth maps from tracked boxes (``mode="boxes"``) or the empty room alone (``mode="room"``).

    The featurizer calls :meth:`from_boxes` (``needs_boxes`` is True); ``__call__(frames)`` alone gives the
    room map, as a depth backend without boxes would.

    Args:
        size: (h, w) of the maps (the stored ``depth_size``).
        mode: ``boxes`` or ``room``.
    """

    needs_boxes = True

    def __init__(self, size: tuple[int, int] = (36, 64), mode: str = BOX_DEPTH):
        from stereosync.data.render import depth_background

        if mode not in (BOX_DEPTH, ROOM_DEPTH):
            raise ValueError(f"mode must be {BOX_DEPTH!r} or {ROOM_DEPTH!r}, got {mode!r}")
        self.size, self.mode, self.name = tuple(size), mode, f"{mode}-depth"
        self.room = depth_background(*self.size)

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) frames -> (N, h, w) room maps (no boxes known)."""
        return torch.from_numpy(np.repeat(self.room[None], len(frames), axis=0))

    def from_boxes(self, boxes: np.ndarray, mask: np.ndarray, depth_frames: int) -> np.ndarray:
        """Maps (FD, h, w) of one chunk from its tracked boxes (FB, K, 4) and box_mask (FB, K).

        The FD depth frames span the chunk evenly, so depth frame j takes box frame ``j * FB / FD``.
        """
        maps = np.repeat(self.room[None], depth_frames, axis=0)
        if self.mode == ROOM_DEPTH or len(boxes) == 0:
            return maps
        for j in range(depth_frames):
            i = min(int(round(j * len(boxes) / depth_frames)), len(boxes) - 1)
            maps[j] = paint_boxes(self.room, boxes[i], mask[i])
        return maps
