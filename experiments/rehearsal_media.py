"""The rehearsal's inputs: real-codec videos of the synthetic scenes, in the formats a user brings.

- ``voiced/surround51_48k.mp4``: landscape, H.264 + 5.1 AAC at 48 kHz (the extraction downmixes and resamples
  it to 44.1-kHz stereo): the training, validation and test shards;
- ``silent/portrait_silent.mp4``: portrait (144 × 256), H.264 without an audio track, one chunk long: ``predict``
  and the demo voice it;
- ``reference.wav``: another scene's 44.1-kHz stereo audio, the timbre a silent video needs
  (``--data.clap_reference``).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

SURROUND = "surround51_48k.mp4"
SILENT = "portrait_silent.mp4"


def _write(path: Path, frames: np.ndarray, fps: float, audio: np.ndarray | None, rate: int, layout: str) -> None:
    """H.264 video (+ AAC ``audio`` (C, S) in ``layout`` at ``rate``, or no audio track)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        vs.options = {"crf": "20", "preset": "veryfast"}
        aus = out.add_stream("aac", rate=rate, layout=layout) if audio is not None else None
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if aus is not None:
            pcm = np.ascontiguousarray(np.clip(audio, -1, 1), dtype=np.float32)
            for s in range(0, pcm.shape[1], 1024):
                block = np.ascontiguousarray(pcm[:, s : s + 1024])
                af = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
                af.sample_rate, af.pts, af.time_base = rate, s, Fraction(1, rate)
                out.mux(aus.encode(af))
            out.mux(aus.encode(None))


def to_surround(stereo: np.ndarray) -> np.ndarray:
    """(2, S) → (6, S) in 5.1 order FL, FR, FC, LFE, BL, BR: the pair in front and behind, their mean centred."""
    left, right = stereo
    return np.stack([left, right, 0.5 * (left + right), np.zeros_like(left), 0.5 * left, 0.5 * right])


def make_videos(work: Path, seconds: float, chunk_seconds: float) -> dict[str, Path]:
    """Write the inputs under ``work/videos`` (kept when present); returns their paths.

    Args:
        seconds: length of the 5.1 video (at least ``chunk_seconds``: it gives the shards' chunks).
        chunk_seconds: length of the silent video (one chunk, so ``predict`` and the demo extract one).
    """
    from stereosync.data.synthetic import generate_scene

    if seconds < chunk_seconds:
        raise ValueError(f"--seconds {seconds} is shorter than --chunk-seconds {chunk_seconds}: no chunk to train on")
    root = work / "videos"
    out = {
        "voiced": root / "voiced",
        "surround": root / "voiced" / SURROUND,
        "silent": root / "silent" / SILENT,
        "reference": root / "reference.wav",
    }
    if not out["surround"].is_file():
        scene = generate_scene(101, duration=seconds, sample_rate=48000, max_characters=1)
        _write(out["surround"], scene.frames, scene.video_fps, to_surround(scene.audio), 48000, "5.1")
    if not out["silent"].is_file():
        scene = generate_scene(102, duration=chunk_seconds, width=144, height=256, max_characters=1)
        _write(out["silent"], scene.frames, scene.video_fps, None, 0, "")
    if not out["reference"].is_file():
        import soundfile

        scene = generate_scene(103, duration=chunk_seconds, max_characters=1)
        soundfile.write(str(out["reference"]), scene.audio.T, scene.sample_rate, subtype="PCM_16")
    return out
