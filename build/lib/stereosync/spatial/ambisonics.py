"""First-order ambisonics (FOA) in the ambiX convention: ACN channel order W, Y, Z, X with SN3D normalisation.

A plane wave s(t) from azimuth φ (+ = left) and elevation θ (+ = up) encodes as
``W = s, Y = s sin φ cos θ, Z = s sin θ, X = s cos φ cos θ``. Its direction comes back from the active
intensity vector ``I = mean(W · [X, Y, Z])`` (for a plane wave, ``I = mean(s²) · unit vector``), which is how
:mod:`stereosync.metrics.functional.foa_doa` reads the direction of arrival.
"""

from __future__ import annotations

import numpy as np

ACN_ORDER = ("W", "Y", "Z", "X")
DIFFUSE_DIRECTIONAL_GAIN = 1.0 / np.sqrt(3.0)  # SN3D: each of Y, Z, X of an isotropic field has 1/3 of W's power


def encode_gains(azimuth: np.ndarray | float, elevation: np.ndarray | float = 0.0) -> np.ndarray:
    """ambiX SN3D encoding gains ``(..., 4)`` [W, Y, Z, X] for directions in degrees."""
    az, el = np.radians(np.asarray(azimuth, np.float64)), np.radians(np.asarray(elevation, np.float64))
    az, el = np.broadcast_arrays(az, el)
    return np.stack([np.ones_like(az), np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)], axis=-1)


def direction(intensity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation in degrees of intensity vectors ``(..., 3)`` ordered [x, y, z] (front, left, up)."""
    x, y, z = intensity[..., 0], intensity[..., 1], intensity[..., 2]
    return np.degrees(np.arctan2(y, x)), np.degrees(np.arctan2(z, np.hypot(x, y)))
