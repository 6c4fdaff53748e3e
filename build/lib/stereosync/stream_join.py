"""Generated chunks → one wav on the video's time axis, written as the chunks arrive.

The result equals placing all chunks at once with equal-power cross-fades
(:func:`callbacks.prediction_writer.join_chunks`), but only the newest chunk and the not yet final stretch
of audio are held in memory, so memory does not grow with the video's length.
"""

from __future__ import annotations

import os

import numpy as np


class StreamingJoin:
    """Cross-fades chunks given in order of start time and appends finished samples to a wav.

    Where two chunks overlap, the earlier fades out and the later fades in over the whole overlap with
    sine/cosine ramps (independently generated chunks are uncorrelated, so their powers add to a constant);
    chunks that only touch get a ``fade_seconds`` fade on each side of the boundary. Audio past ``duration``
    (the padded tail) is cut and a stretch no chunk covers is silence.

    A chunk's fade-out depends on where the next chunk starts, so the newest chunk is held until the next one
    (or :meth:`close`); everything before the newest chunk's start is final and goes to the file.

    Args:
        path: the wav to write (stereo).
        sample_rate: Hz of the chunks and of the file.
        duration: the video's length in s; the file holds round(duration × sample_rate) samples.
        fade_seconds: fade at boundaries where chunks only touch.
        subtype: soundfile sample format (``PCM_24``, ``FLOAT`` …).
        channels: C, the channels of every chunk (2: stereo or binaural; 4: first-order ambisonics).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        sample_rate: int,
        duration: float,
        fade_seconds: float,
        subtype: str = "PCM_24",
        channels: int = 2,
    ):
        import soundfile

        self.rate, self.total = sample_rate, int(round(duration * sample_rate))
        self.n_fade = int(round(fade_seconds * sample_rate))
        self.file = soundfile.SoundFile(str(path), "w", samplerate=sample_rate, channels=channels, subtype=subtype)
        self.written = 0  # samples already in the file
        self.pending = np.zeros((channels, 0), np.float32)  # audio from sample `written` on, still receiving chunks
        self.held: tuple[int, np.ndarray, int] | None = None  # (start sample, (C, n) audio, fade-in length)
        self.chunks = 0

    def add(self, start: float, audio: np.ndarray) -> None:
        """Add the next chunk: ``start`` in s (not before the previous chunk's), ``audio`` (C, n) float.

        Raises:
            ValueError: the chunk starts before the previous one.
        """
        a0, n = int(round(start * self.rate)), audio.shape[1]
        ramp_in = 0
        if self.held is not None:
            h0, held, held_in = self.held
            if a0 < h0:
                raise ValueError(f"chunk at {start:.3f} s arrives after the chunk at {h0 / self.rate:.3f} s")
            self._place(h0, held, held_in, self._ramp(h0 + held.shape[1] - a0, held.shape[1]))
            ramp_in = self._ramp(h0 + held.shape[1] - a0, n)
        self.held = (a0, np.asarray(audio, np.float32), ramp_in)
        self.chunks += 1
        self._flush(a0)

    def close(self) -> float:
        """Place the last chunk, write the rest (silence where no chunk reached) and close; returns seconds."""
        if self.held is not None:
            h0, held, held_in = self.held
            self._place(h0, held, held_in, 0)
            self.held = None
        self._flush(self.total)
        self.file.close()
        return self.written / self.rate

    def abort(self) -> None:
        """Close the file without writing more (the video failed)."""
        self.file.close()

    def _ramp(self, overlap: int, n: int) -> int:
        """Length of a fade: the whole overlap, or ``fade_seconds`` where chunks only touch or leave a gap."""
        ramp = min(n, overlap)
        return ramp if ramp > 0 else min(n, self.n_fade)

    def _place(self, a0: int, audio: np.ndarray, ramp_in: int, ramp_out: int) -> None:
        """Add a chunk with its fades into the pending audio."""
        n = audio.shape[1]
        gain = np.ones(n, np.float32)
        if ramp_in:
            gain[:ramp_in] *= np.sin(np.linspace(0, np.pi / 2, ramp_in))
        if ramp_out:
            gain[n - ramp_out :] *= np.cos(np.linspace(0, np.pi / 2, ramp_out))
        end = min(self.total, a0 + n)
        if end <= a0:
            return
        offset, length = a0 - self.written, end - a0
        self._grow(offset + length)
        self.pending[:, offset : offset + length] += audio[:, :length] * gain[:length]

    def _grow(self, length: int) -> None:
        if self.pending.shape[1] < length:
            self.pending = np.pad(self.pending, ((0, 0), (0, length - self.pending.shape[1])))

    def _flush(self, upto: int) -> None:
        """Write the samples before ``upto`` (no chunk still to come reaches them)."""
        n = min(upto, self.total) - self.written
        if n <= 0:
            return
        self._grow(n)
        self.file.write(np.clip(self.pending[:, :n], -1, 1).T)
        self.pending, self.written = self.pending[:, n:], self.written + n
