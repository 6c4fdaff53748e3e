"""Write schema-valid samples into WebDataset shards (.tar)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stereosync.data.schema import encode_sample, validate


class ShardWriter:
    """Validate and write samples to ``<folder>/<prefix>-%06d.tar``, rolling over every ``max_count``.

    Each shard is first written as ``*.tar.partial`` and renamed when complete, so a killed writer never
    leaves a truncated shard under a final name.

    Args:
        folder: output folder (created).
        prefix: shard name prefix.
        max_count: samples per shard.
        start_index: index of the first shard (for resumable / partitioned writers).
    """

    def __init__(self, folder: str | os.PathLike, prefix: str = "shard", max_count: int = 64, start_index: int = 0):
        import webdataset as wds  # local: keep `import stereosync.data.schema` light

        self._wds = wds
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix, self.max_count = prefix, max_count
        self.index = start_index
        self.count = 0
        self.written: list[Path] = []
        self._tar = None
        self._path: Path | None = None

    def write(self, sample: Mapping[str, Any]) -> None:
        """Validate one sample (``{"__key__", "json", member: array}``) and append it."""
        validate(sample, shard=str(self._next_path()), key=sample["__key__"])
        if self._tar is None:
            self._open()
        self._tar.write(encode_sample(sample))
        self.count += 1
        if self.count >= self.max_count:
            self._close()

    def _next_path(self) -> Path:
        return self._path or self.folder / f"{self.prefix}-{self.index:06d}.tar"

    def _open(self) -> None:
        self._path = self._next_path()
        self._tar = self._wds.TarWriter(str(self._path) + ".partial")

    def _close(self) -> None:
        if self._tar is None:
            return
        self._tar.close()
        os.replace(str(self._path) + ".partial", self._path)
        self.written.append(self._path)
        self._tar, self._path = None, None
        self.index += 1
        self.count = 0

    def close(self) -> list[Path]:
        """Finish the open shard; returns every shard written."""
        self._close()
        return self.written

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
