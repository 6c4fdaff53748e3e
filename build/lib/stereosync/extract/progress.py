"""Resumability: an append-only commit log per partition, so a re-run skips work and never duplicates.

The unit of commitment is a shard. Samples go into the open ``*.tar.partial`` shard of the partition;
when :class:`~stereosync.data.shards.ShardWriter` renames it to its final name, a ``shard`` line listing
its samples (video, chunk) is appended to ``progress-p<i>.jsonl`` (flushed and fsynced). A video is
finished when all its samples are in committed shards (or it failed / had none): a ``video`` line.

On start-up, the logs of *all* partitions give the committed chunks and the finished videos; the
partition's own shards that no log line names (renamed just before a kill) and its ``.partial`` files are
deleted. A video interrupted mid-way is processed again and only its uncommitted chunks are written, so
no sample is ever written twice, whatever the moment of the kill.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def partition_tag(index: int) -> str:
    """File-name tag of a partition: ``p0003``."""
    return f"p{index:04d}"


@dataclass
class Progress:
    """What all partitions' logs say: chunks committed per video, finished videos and their status."""

    chunks: dict[str, set[int]] = field(default_factory=dict)
    finished: dict[str, str] = field(default_factory=dict)
    shards: dict[str, list[str]] = field(default_factory=dict)  # partition tag -> its committed shard names


def read_progress(out_dir: Path) -> Progress:
    """Merge every ``progress-p*.jsonl`` of ``out_dir``; a torn last line (killed mid-write) is ignored."""
    prog = Progress()
    for path in sorted(out_dir.glob("progress-p*.jsonl")):
        tag = path.stem.split("-", 1)[1]
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                log.warning("%s: ignoring an incomplete line (killed mid-write)", path)
                continue
            if rec["type"] == "shard":
                prog.shards.setdefault(tag, []).append(rec["shard"])
                for video, idx in rec["chunks"].items():
                    prog.chunks.setdefault(video, set()).update(idx)
                for video in rec["finished"]:
                    prog.finished[video] = "ok"
            elif rec["type"] == "video":
                prog.finished[rec["video"]] = rec["status"]
    return prog


class ProgressLog:
    """The append-only log of one partition.

    Args:
        out_dir: output folder.
        partition: this partition's index.
    """

    def __init__(self, out_dir: Path, partition: int):
        self.path = out_dir / f"progress-{partition_tag(partition)}.jsonl"
        torn = self.path.is_file() and self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n")
        self._fh = open(self.path, "a", encoding="utf-8")
        if torn:  # a kill mid-write left half a line: end it, so the next record stays whole
            self._fh.write("\n")

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record durably (flush + fsync)."""
        self._fh.write(json.dumps(record, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def shard(self, name: str, chunks: Mapping[str, list[int]], finished: list[str]) -> None:
        """A shard was renamed to ``name``; it holds ``chunks`` (video -> chunk indices)."""
        self.append({"type": "shard", "shard": name, "chunks": dict(chunks), "finished": list(finished)})

    def video(self, video: str, status: str) -> None:
        """A video with no pending sample is finished (``ok``, ``failed``, ``empty``)."""
        self.append({"type": "video", "video": video, "status": status})

    def close(self) -> None:
        self._fh.close()


def clean_orphans(out_dir: Path, prefix: str, committed: list[str]) -> list[Path]:
    """Delete this partition's shards that no log line names, and its ``.partial`` files.

    Args:
        out_dir: output folder.
        prefix: the partition's shard prefix (``shard-p0003``).
        committed: shard names the partition's log lists.

    Returns:
        The deleted paths.
    """
    keep = set(committed)
    gone = []
    for path in sorted(out_dir.glob(f"{prefix}-*.tar*")):
        if path.name.endswith(".partial") or path.name not in keep:
            path.unlink()
            gone.append(path)
            log.warning("removed %s: written by a run that was killed before committing it", path)
    return gone


def next_shard_index(prefix: str, committed: list[str]) -> int:
    """First shard number after the partition's committed ones (``shard-p0003-000012.tar`` -> 13)."""
    nums = [int(name[len(prefix) + 1 :].split(".")[0]) for name in committed if name.startswith(prefix + "-")]
    return max(nums, default=-1) + 1
