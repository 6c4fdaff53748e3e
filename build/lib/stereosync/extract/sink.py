"""Where samples go: a :class:`ShardWriter` whose every finished shard is committed to the progress log."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stereosync.data.shards import ShardWriter
from stereosync.extract.progress import ProgressLog, clean_orphans, next_shard_index

log = logging.getLogger(__name__)


class SampleSink:
    """Write samples to ``<out>/<prefix>-NNNNNN.tar`` and commit each shard once it has its final name.

    Args:
        out_dir: output folder.
        prefix: shard prefix of this partition (``shard-p0000``).
        progress: this partition's log.
        committed: shard names already committed by this partition (for resuming the numbering).
        samples_per_shard: samples per shard.
    """

    def __init__(self, out_dir: Path, prefix: str, progress: ProgressLog, committed: list[str], samples_per_shard: int):
        clean_orphans(out_dir, prefix, committed)
        self.progress = progress
        self.writer = ShardWriter(
            out_dir, prefix=prefix, max_count=samples_per_shard, start_index=next_shard_index(prefix, committed)
        )
        self.pending: dict[str, list[int]] = {}  # samples in the open shard: video -> chunk indices
        self.waiting: list[str] = []  # finished videos whose last samples are in the open shard
        self.samples = 0

    def write(self, sample: Mapping[str, Any], video: str, chunk: int) -> None:
        """Validate and write one sample of ``video``; commits the shard if it just filled up."""
        done = len(self.writer.written)
        self.writer.write(sample)
        self.samples += 1
        self.pending.setdefault(video, []).append(chunk)
        if len(self.writer.written) > done:
            self._commit()

    def finish_video(self, video: str, status: str = "ok") -> None:
        """All samples of ``video`` were given: it is finished once they are committed."""
        if video in self.pending:
            self.waiting.append(video)
        else:
            self.progress.video(video, status)

    def _commit(self) -> None:
        self.progress.shard(self.writer.written[-1].name, self.pending, self.waiting)
        self.pending, self.waiting = {}, []

    def close(self) -> list[Path]:
        """Finish and commit the open shard; returns the shards written by this run."""
        done = len(self.writer.written)
        self.writer.close()
        if len(self.writer.written) > done:
            self._commit()
        return self.writer.written
