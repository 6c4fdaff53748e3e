"""Binaural and FOA ground truth of a synthetic scene, rendered footstep by footstep beside the stereo mix.

The stereo mix pans each footstep with the constant-power law at the character's box centre at the step's
onset (:func:`stereosync.data.scene.render_steps`). The same footstep waveform, with the same level (character
loudness, accent and 1/d distance gain), is rendered here from the same position, converted to a direction
through the camera model (:mod:`.geometry`, 80° horizontal field of view, elevation 0):

- binaural: convolved with the KEMAR HRIRs interpolated at that azimuth (:mod:`.hrtf`);
- FOA: encoded as a plane wave from that azimuth (:mod:`.ambisonics`, ambiX ACN/SN3D).

The direction is the one at the step's onset, as for the stereo pan: the trajectory is sampled once per step
(a step sounds for well under a second, during which the character moves a few degrees at most).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import oaconvolve

from stereosync.spatial.ambisonics import encode_gains
from stereosync.spatial.geometry import azimuth_from_x
from stereosync.spatial.hrtf import kemar


class SpatialRender:
    """Accumulates footsteps into a binaural (2, S) and an ambiX FOA (4, S) render.

    Args:
        num_samples: S, the scene length in samples.
        sample_rate: Hz.
    """

    def __init__(self, num_samples: int, sample_rate: int):
        self.hrtfs = kemar(sample_rate)
        self.binaural = np.zeros((2, num_samples))
        self.foa = np.zeros((4, num_samples))

    def add(self, start: int, x: float, wave: np.ndarray) -> None:
        """Add one footstep.

        Args:
            start: first sample of the step in the scene.
            x: box-centre column of its character at the onset, normalised [0, 1].
            wave: (L,) the step's waveform with its level applied, already cut to the scene's end.
        """
        if len(wave) == 0:  # a step at the scene's very end
            return
        az = float(azimuth_from_x(x))
        n = min(len(wave) + self.hrtfs.length - 1, self.binaural.shape[-1] - start)
        ears = oaconvolve(wave[None, :], self.hrtfs.hrir(az), axes=-1)
        self.binaural[:, start : start + n] += ears[:, :n]
        self.foa[:, start : start + len(wave)] += encode_gains(az)[:, None] * wave
