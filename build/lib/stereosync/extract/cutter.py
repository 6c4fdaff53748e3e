"""Cutting a decoded video into chunks: frames settled on the depth and box grids → a chunk every ``hop`` seconds.

Used by :func:`stereosync.extract.decode.iter_chunks`; see :class:`~stereosync.extract.decode.DecodeConfig` for the
hop, the padded tail and silent videos.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator

import numpy as np

from stereosync.extract.decode import Chunk, DecodeConfig, DecodeReport


class ChunkCutter:
    """Frames settled on the two grids → chunks every ``hop`` seconds, in order.

    A chunk is cut once its frames exist and the video has run 0.5 s past its end (late corrupt packets still
    reach it); at the end of the stream the rest is cut, the padded tail included with ``pad_tail``. Frames
    are dropped once no later chunk can use them.
    """

    def __init__(self, cfg: DecodeConfig, audio: np.ndarray | None, report: DecodeReport):
        self.cfg, self.audio, self.report = cfg, audio, report
        self.hop = cfg.hop()
        self.audio_seconds = audio.shape[1] / cfg.sample_rate if audio is not None else float("inf")
        self.n_audio = int(round(cfg.chunk_seconds * cfg.sample_rate))
        self.frames = {
            "depth": int(round(cfg.chunk_seconds * cfg.depth_fps)),
            "box": int(round(cfg.chunk_seconds * cfg.box_fps)),
        }
        self.fps = {"depth": cfg.depth_fps, "box": cfg.box_fps}
        self.bufs: dict[str, dict[int, np.ndarray]] = {"depth": {}, "box": {}}
        self.next = 0

    def settle(self, name: str, pairs) -> None:
        for k, img in pairs:
            self.bufs[name][k] = img

    def _first(self, name: str, i: int) -> int:
        return int(round(i * self.hop * self.fps[name]))

    def count(self, duration: float) -> int:
        """Chunks of a video of ``duration`` s."""
        chunk = self.cfg.chunk_seconds
        if math.isinf(duration):  # a silent video while it streams: its length is known at the end
            return sys.maxsize
        if self.cfg.pad_tail:
            return 0 if duration <= 1e-6 else max(1, int(np.ceil((duration - chunk) / self.hop - 1e-6)) + 1)
        return 0 if duration < chunk - 1e-6 else int(np.floor((duration - chunk) / self.hop + 1e-6)) + 1

    def ready(self, video_end: float, final: bool) -> Iterator[Chunk]:
        limit = self.count(min(video_end, self.audio_seconds)) if final else self.count(self.audio_seconds)
        while self.next < limit:
            i = self.next
            start, end = i * self.hop, i * self.hop + self.cfg.chunk_seconds
            spans = {n: range(self._first(n, i), self._first(n, i) + self.frames[n]) for n in self.frames}
            have = all(spans[n][-1] in self.bufs[n] for n in spans)
            if not final and (not have or video_end < end + 0.5):
                return
            if final and not have and not self.cfg.pad_tail:
                return
            frames = {n: np.stack([self._frame(n, k) for k in spans[n]]) for n in spans}
            prev = self.bufs["box"].get(spans["box"][0] - 1)
            audio, history = self._audio(start)
            self.report.chunks += 1
            self.next += 1
            for n in self.bufs:  # keep what the next chunk (and its previous box frame) reads
                keep = self._first(n, self.next) - 1
                for k in [k for k in self.bufs[n] if k < keep]:
                    del self.bufs[n][k]
            fb = self.frames["box"]
            yield Chunk(
                i,
                start,
                audio,
                frames["depth"],
                frames["box"],
                (spans["box"][0] + np.arange(fb)) / self.cfg.box_fps,
                history,
                prev,
                max(0.0, min(self.cfg.chunk_seconds, min(video_end, self.audio_seconds) - start)),
            )

    def _frame(self, name: str, k: int) -> np.ndarray:
        buf = self.bufs[name]
        if k in buf:
            return buf[k]
        return buf[max(j for j in buf if j < k)]  # after the end of the video: the last frame, held

    def _audio(self, start: float) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self.audio is None:
            return None, None
        cfg = self.cfg
        a0 = int(round(start * cfg.sample_rate))
        h0 = max(0, a0 - int(round(cfg.history_seconds * cfg.sample_rate)))
        audio = self.audio[:, a0 : a0 + self.n_audio]
        if audio.shape[1] < self.n_audio:  # the padded tail: silence after the end
            audio = np.pad(audio, ((0, 0), (0, self.n_audio - audio.shape[1])))
        return np.ascontiguousarray(audio), np.ascontiguousarray(self.audio[:, h0:a0])
