"""One video's outputs during ``predict`` (wav streamed as chunks arrive, then the video file), and the
``failures.jsonl`` manifest of the videos that could not be finished."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

STAGES = ("extract", "generate", "write", "mux")


class FailureFile:
    """``failures.jsonl``: one ``{"file", "stage", "error"}`` line per video that failed, written at once.

    Args:
        path: the file; an existing one (an earlier run into the same folder) is replaced.
    """

    def __init__(self, path: Path):
        self.path, self.count = path, 0
        path.unlink(missing_ok=True)

    def add(self, file: str, stage: str, error: str) -> None:
        """Record and log that ``file`` failed at ``stage`` (one of :data:`STAGES`) with ``error``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"file": file, "stage": stage, "error": error}) + "\n")
        self.count += 1
        log.error("predict: %s failed at the %s stage: %s", file, stage, error)


def describe(err: BaseException) -> str:
    """``"<type>: <message>"`` of an exception, as failures.jsonl stores it."""
    return f"{type(err).__name__}: {err}"


class VideoJob:
    """One video: its wav, joined as its chunks arrive, then the video file with that audio.

    Args:
        source: the video's key (``meta["source"]`` of its chunks).
        path: where to read the video.
        stem: output path without suffix (``<stem>.wav`` and ``<stem>.mp4|.mov|.mkv``).
        sample_rate: Hz of the written audio.
        fade_seconds: fade where chunks only touch.
        failures: where a failure is recorded.
        fmt: ``stereo`` or ``binaural`` (a wav and the video with that audio) or ``foa`` (an ambiX wav and
            the video with its 4 channels, tagged first-order ambiX by an SA3D box).
    """

    def __init__(
        self,
        source: str,
        path: str,
        stem: Path,
        sample_rate: int,
        fade_seconds: float,
        failures: FailureFile,
        fmt: str = "stereo",
    ):
        self.source, self.path, self.stem, self.failures, self.format = source, path, stem, failures, fmt
        self.failed, self.join, self.seconds, self.output = False, None, 0.0, None
        self.sample_rate, self.fade_seconds = sample_rate, fade_seconds

    @property
    def wav(self) -> Path:
        """The wav the chunks are joined into (FOA: a plain 4-channel file, rewritten as ambiX at the end)."""
        return self.stem.with_name(self.stem.name + (".foa-part.wav" if self.format == "foa" else ".wav"))

    def open(self) -> None:
        """Read the video's duration and start its wav (a failure is recorded at the ``write`` stage)."""
        from stereosync.media import video_duration
        from stereosync.stream_join import StreamingJoin

        try:
            duration, _ = video_duration(self.path)
            self.wav.parent.mkdir(parents=True, exist_ok=True)
            channels = 4 if self.format == "foa" else 2
            self.join = StreamingJoin(self.wav, self.sample_rate, duration, self.fade_seconds, channels=channels)
        except Exception as err:  # noqa: BLE001 - any reason is this video's failure, not the run's
            self.fail("write", describe(err))

    def add(self, starts: list[float], audio: np.ndarray) -> None:
        """Add chunks (``starts`` in s, ``audio`` (B, 2, T) at ``sample_rate``) in order of start."""
        if self.failed:
            return
        try:
            for start, clip in zip(starts, audio):
                self.join.add(start, clip)
        except Exception as err:  # noqa: BLE001
            self.fail("write", describe(err))

    def finish(self, audio_codec: str) -> bool:
        """Close the wav and write the video file; True when both were written.

        A failed mux keeps the wav (the generated audio is not lost with the video file).
        """
        from stereosync.output_video import write_output

        if self.failed:
            return False
        try:
            self.seconds = self.join.close()
        except Exception as err:  # noqa: BLE001
            self.fail("write", describe(err))
            return False
        wav = self.wav
        if self.format == "foa":
            wav = self._finish_ambix()
            if wav is None:
                return False
        try:
            self.output = write_output(self.path, wav, self.stem, audio_codec, ambisonic=self.format == "foa")
        except Exception as err:  # noqa: BLE001
            log.debug("mux failed", exc_info=True)
            self.failed = True
            self.failures.add(self.path, "mux", describe(err))
            return False
        out = self.output
        how = "copied" if out.copied else "re-encoded to H.264"
        what = f"{out.audio_codec} {'first-order ambiX, SA3D-tagged' if out.ambisonic else ''}".strip()
        log.info(
            "predict: %s → %s (picture %s, %s; %s audio; %d chunks, %.2f s)",
            self.path, out.path, out.video_codec, how, what, self.join.chunks, self.seconds,
        )  # fmt: skip
        return True

    def _finish_ambix(self) -> Path | None:
        """The joined 4-channel wav → ``<stem>.wav`` as ambiX (ACN/SN3D, tagged); returns it (None: failed)."""
        from stereosync.spatial.ambix_io import ambix_from_wav

        out = self.stem.with_name(self.stem.name + ".wav")
        try:
            ambix_from_wav(self.wav, out)
            self.wav.unlink()
        except Exception as err:  # noqa: BLE001
            self.fail("write", describe(err))
            return None
        log.info("predict: %s → %s (ambiX first-order ambisonics, %.2f s)", self.path, out, self.seconds)
        return out

    def fail(self, stage: str, error: str) -> None:
        """Record the failure; an unfinished wav is removed (it would hold only part of the audio)."""
        self.failed = True
        self.failures.add(self.path, stage, error)
        if self.join is not None:
            self.join.abort()
            self.wav.unlink(missing_ok=True)
