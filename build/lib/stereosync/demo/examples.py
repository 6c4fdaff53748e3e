"""Example reference sounds for the demo: synthetic footsteps of each material of the synthetic generator.

Each file is 2 s of mono footsteps at a walking cadence (one step every 0.5 s), 16 kHz, 16-bit, made with the
generator's own footstep synthesis (:func:`stereosync.data.scene.footstep`). The shipped files are written by::

    python -m stereosync.demo.examples src/stereosync/demo/sounds
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
SECONDS = 2.0
STEP_EVERY = 0.5


def footsteps(material: str, seed: int = 0, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(S,) float32 mono: a footstep of ``material`` every ``STEP_EVERY`` s, peak 0.9."""
    from stereosync.data.scene import footstep

    rng = np.random.default_rng(seed)
    out = np.zeros(int(SECONDS * sample_rate))
    for i, t0 in enumerate(np.arange(0.1, SECONDS, STEP_EVERY)):
        wave = footstep(rng, material, sample_rate) * (1.0 if i % 2 == 0 else 0.8)
        a0 = int(t0 * sample_rate)
        seg = wave[: len(out) - a0]
        out[a0 : a0 + len(seg)] += seg
    return (0.9 * out / np.abs(out).max()).astype(np.float32)


def write_examples(folder: str | Path) -> list[Path]:
    """One ``footsteps_<material>.wav`` per material into ``folder``; returns the paths."""
    import soundfile

    from stereosync.data.scene import MATERIALS

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for material in MATERIALS:
        path = folder / f"footsteps_{material}.wav"
        soundfile.write(str(path), footsteps(material), SAMPLE_RATE, subtype="PCM_16")
        paths.append(path)
    return paths


def example_sounds() -> dict[str, Path]:
    """The shipped example sounds: ``{material: path}``."""
    folder = Path(str(resources.files("stereosync.demo").joinpath("sounds")))
    return {p.stem.removeprefix("footsteps_"): p for p in sorted(folder.glob("footsteps_*.wav"))}


def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="output folder (the package's sounds/ for the shipped files)")
    paths = write_examples(parser.parse_args(argv).folder)
    for p in paths:
        print(p)
    return paths


if __name__ == "__main__":
    main()
