"""Picture position to direction: the camera model of the synthetic scenes (docs/spatial_audio.md).

A pinhole camera with an 80° horizontal field of view (:data:`stereosync.data.scene.FRAME_WIDTH_PER_M` = 2 tan 40°
metres of floor across the frame per metre of distance) at the listener's head, looking straight ahead. A box
centre at normalised image column ``x`` (0 = left edge, 1 = right edge) lies in the direction
``azimuth = atan((0.5 - x) · 2 tan 40°)``, in degrees counter-clockwise (+ = left, the SOFA and ambiX
convention), so the frame spans ±40°. Elevation is not modelled: sources are on the horizontal plane.
"""

from __future__ import annotations

import math

import numpy as np

HFOV_DEG = 80.0
_HALF_WIDTH = math.tan(math.radians(HFOV_DEG / 2))  # tan 40°: half the frame width at unit depth


def azimuth_from_x(x: np.ndarray | float, hfov_deg: float = HFOV_DEG) -> np.ndarray:
    """Azimuth in degrees (+ = left) of normalised image column(s) ``x`` through a ``hfov_deg`` pinhole."""
    half = math.tan(math.radians(hfov_deg / 2))
    return np.degrees(np.arctan((0.5 - np.asarray(x, dtype=np.float64)) * 2 * half))


def x_from_azimuth(azimuth: np.ndarray | float, hfov_deg: float = HFOV_DEG) -> np.ndarray:
    """Inverse of :func:`azimuth_from_x`: image column of an azimuth in degrees (outside [0, 1] off-screen).

    Azimuths at or beyond ±90° map to the largest finite column on their side (±1e3 frame widths).
    """
    half = math.tan(math.radians(hfov_deg / 2))
    az = np.clip(np.asarray(azimuth, dtype=np.float64), -89.9, 89.9)
    return np.clip(0.5 - np.tan(np.radians(az)) / (2 * half), -1e3, 1e3)
