"""The extraction run: videos of one partition -> validated shards, resumable, with a failure manifest.

Outputs in ``out`` (``pNNNN`` = partition): ``shard-pNNNN-NNNNNN.tar`` (samples, see :mod:`stereosync.data.schema`),
``progress-pNNNN.jsonl`` (commit log, see :mod:`.progress`), ``failures-pNNNN.jsonl`` (one line per bad
input: path, error type, message), ``summary-pNNNN.json`` and ``config-pNNNN.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stereosync.data.schema import make_meta
from stereosync.extract import errors
from stereosync.extract.decode import Chunk, DecodeConfig, DecodeReport, iter_chunks
from stereosync.extract.features import Featurizer
from stereosync.extract.inputs import Video, content_id, list_videos, partition, resolve_partition
from stereosync.extract.progress import ProgressLog, partition_tag, read_progress
from stereosync.extract.sink import SampleSink

log = logging.getLogger(__name__)


@dataclass
class ExtractConfig:
    """One extraction run (model choices live in :class:`stereosync.extract.factory.ModelConfig`).

    Attributes:
        inputs: folder of videos (recursive) or a list file (one path per line).
        out: output folder for shards, logs and manifests.
        num_shards: number of partitions of the input list (array jobs / ranks); default from torchrun's
            ``WORLD_SIZE``, else 1.
        shard_index: this process's partition; default from ``RANK``, else 0.
        samples_per_shard: samples (chunks) per output tar.
        chunks_per_batch: chunks of a video sent through the models together (x 8 depth frames,
            x 60 box frames).
        retry_failed: process again the videos an earlier run recorded as failed.
        progress_bar: show a tqdm bar.
        decode: frame grids, audio rate, chunk length, decode size.
        extra_meta: fields added to every sample json (e.g. model names).
    """

    inputs: str
    out: str
    num_shards: int | None = None
    shard_index: int | None = None
    samples_per_shard: int = 64
    chunks_per_batch: int = 4
    retry_failed: bool = False
    progress_bar: bool = True
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    extra_meta: dict[str, Any] = field(default_factory=dict)


class FailureLog:
    """Append-only jsonl manifest of inputs that could not (fully) be used."""

    def __init__(self, path: Path):
        self.path = path

    def add(self, video: Video, err: BaseException, chunks_written: int) -> None:
        fatal = getattr(err, "fatal", True)
        rec = {
            "path": str(video.path),
            "video": video.key,
            "error": type(err).__name__,
            "message": str(err),
            "fatal": fatal,
            "chunks_written": chunks_written,
        }
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
        (log.error if fatal else log.warning)("%s: %s: %s", video.key, type(err).__name__, err)


def _is_corrupt(chunk: Chunk, report: DecodeReport, cfg: DecodeConfig) -> bool:
    lo, hi = chunk.start - 1.0 / cfg.box_fps, chunk.start + cfg.chunk_seconds
    return any(lo <= t < hi for t in report.bad_times)


class _VideoJob:
    """Feature extraction of one video into the sink."""

    def __init__(
        self,
        video: Video,
        cfg: ExtractConfig,
        featurizer: Featurizer,
        sink: SampleSink,
        committed: set[int],
        stats: Counter,
    ):
        self.video, self.cfg, self.featurizer, self.sink = video, cfg, featurizer, sink
        self.committed, self.stats = committed, stats
        self.report = DecodeReport()
        self._content_id: str | None = None
        self.on_chunks: Callable[[str, int], None] | None = None
        self.written = 0
        self.corrupt: list[int] = []

    def run(self) -> None:
        self.featurizer.reset()
        group: list[Chunk] = []
        t = time.perf_counter()
        for chunk in iter_chunks(self.video.path, self.cfg.decode, self.report):
            group.append(chunk)
            if len(group) == self.cfg.chunks_per_batch:
                self.stats["decode_s"] += time.perf_counter() - t
                self._flush(group)
                group, t = [], time.perf_counter()
        self.stats["decode_s"] += time.perf_counter() - t
        if group:
            self._flush(group)

    @property
    def content_id(self) -> str:
        """The file's content hash (:func:`stereosync.extract.inputs.content_id`), computed once."""
        if self._content_id is None:
            self._content_id = content_id(self.video.path)
        return self._content_id

    def _flush(self, group: list[Chunk]) -> None:
        dec = self.cfg.decode
        needed = []
        for c in group:
            bad = _is_corrupt(c, self.report, dec)
            if bad:
                self.corrupt.append(c.index)
            needed.append(c.index not in self.committed and not bad)
        self.stats["chunks_already_committed"] += sum(c.index in self.committed for c in group)
        t = time.perf_counter()
        members = self.featurizer(group, needed, dec.sample_rate)
        self.stats["models_s"] += time.perf_counter() - t
        for chunk, m in zip(group, members):
            if m is None:
                continue
            meta = make_meta(
                self.video.key,
                chunk.start,
                duration=dec.chunk_seconds,
                sample_rate=dec.sample_rate,
                depth_fps=dec.depth_fps,
                box_fps=dec.box_fps,
                chunk_index=chunk.index,
                source_fps=round(self.report.source_fps, 4),
                width=self.report.width,
                height=self.report.height,
                envelope_mode=self.featurizer.envelope_mode,
                has_audio=chunk.audio is not None,
                path=os.fspath(Path(self.video.path).resolve()),
                content_id=self.content_id,
                **({"valid_seconds": chunk.valid_seconds} if chunk.valid_seconds < dec.chunk_seconds else {}),
                **self.cfg.extra_meta,
            )
            sample = {"__key__": f"{self.video.sample_prefix}_{chunk.index:05d}", "json": meta, **m}
            if chunk.audio is not None:
                sample["audio"] = chunk.audio
            self.sink.write(sample, self.video.key, chunk.index)
            self.written += 1
        if self.on_chunks is not None:
            self.on_chunks(self.video.key, self.written)


def run_extraction(
    cfg: ExtractConfig, featurizer: Featurizer, on_chunks: Callable[[str, int], None] | None = None
) -> dict[str, Any]:
    """Extract this process's partition of ``cfg.inputs`` into shards under ``cfg.out``.

    Args:
        cfg: the run.
        featurizer: the models.
        on_chunks: called with (video key, chunks of that video written so far) after each batch of chunks
            (a caller's progress display; the demo estimates the time left from it).

    Returns:
        The run summary (also written to ``summary-pNNNN.json``).
    """
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    num, index = resolve_partition(cfg.num_shards, cfg.shard_index)
    tag = partition_tag(index)
    videos = partition(list_videos(cfg.inputs), num, index)
    prog = read_progress(out)
    todo = [v for v in videos if v.key not in prog.finished or (cfg.retry_failed and prog.finished[v.key] == "failed")]
    (out / f"config-{tag}.json").write_text(
        json.dumps({**dataclasses.asdict(cfg), "num_shards": num, "shard_index": index}, indent=1, default=str)
    )
    log.info(
        "partition %d/%d: %d videos, %d finished earlier, %d to do",
        index,
        num,
        len(videos),
        len(videos) - len(todo),
        len(todo),
    )
    plog = ProgressLog(out, index)
    sink = SampleSink(out, f"shard-{tag}", plog, prog.shards.get(tag, []), cfg.samples_per_shard)
    failures = FailureLog(out / f"failures-{tag}.jsonl")
    stats: Counter = Counter()
    bar = tqdm(todo, unit="video", desc=f"extract {tag}", disable=not cfg.progress_bar, dynamic_ncols=True)
    try:
        for video in bar:
            _run_one(video, cfg, featurizer, sink, failures, prog.chunks.get(video.key, set()), stats, on_chunks)
            bar.set_postfix(chunks=sink.samples, failed=stats["videos_failed"])
    finally:
        shards = sink.close()
        plog.close()
    summary = _summary(cfg, num, index, len(videos), len(todo), stats, sink, shards, time.perf_counter() - t_start)
    (out / f"summary-{tag}.json").write_text(json.dumps(summary, indent=1))
    log.info(
        "extract %s: %d videos (%d ok, %d failed, %d partial), %d chunks in %d shards, %.1f s (%.2fx real time)",
        tag,
        summary["videos_processed"],
        summary["videos_ok"],
        summary["videos_failed"],
        summary["videos_partial"],
        summary["chunks_written"],
        len(shards),
        summary["seconds"],
        summary["realtime_factor"],
    )
    return summary


def _run_one(
    video: Video,
    cfg: ExtractConfig,
    featurizer: Featurizer,
    sink: SampleSink,
    failures: FailureLog,
    committed: set[int],
    stats: Counter,
    on_chunks: Callable[[str, int], None] | None = None,
) -> None:
    job = _VideoJob(video, cfg, featurizer, sink, committed, stats)
    job.on_chunks = on_chunks
    try:
        job.run()
    except (errors.ExtractError, Exception) as err:  # noqa: BLE001 - any bad input is recorded, the run goes on
        log.debug("extraction failed", exc_info=True)
        failures.add(video, err, job.written)
        sink.finish_video(video.key, "failed")
        stats["videos_failed"] += 1
        return
    finally:
        stats["chunks_written"] += job.written
        stats["tail_seconds"] += job.report.tail_seconds
        stats["tails_dropped"] += job.report.tail_seconds > 1e-3
        stats["video_seconds"] += job.report.duration
        stats["warnings"] += len(job.report.warnings)
    if job.corrupt:
        failures.add(
            video,
            errors.CorruptStreamError(
                f"undecodable packets near {sorted({round(t, 2) for t in job.report.bad_times})[:8]} s: dropped chunks "
                f"{sorted(set(job.corrupt))}, kept {job.written}"
            ),
            job.written,
        )
        stats["videos_partial"] += 1
        stats["chunks_dropped_corrupt"] += len(set(job.corrupt))
    sink.finish_video(video.key, "ok")
    stats["videos_ok"] += 1


def _summary(
    cfg: ExtractConfig,
    num: int,
    index: int,
    n_videos: int,
    n_todo: int,
    stats: Counter,
    sink: SampleSink,
    shards: list[Path],
    seconds: float,
) -> dict[str, Any]:
    return {
        "partition": index,
        "num_partitions": num,
        "videos_in_partition": n_videos,
        "videos_skipped_finished": n_videos - n_todo,
        "videos_processed": n_todo,
        "videos_ok": stats["videos_ok"],
        "videos_failed": stats["videos_failed"],
        "videos_partial": stats["videos_partial"],
        "chunks_written": stats["chunks_written"],
        "chunks_already_committed": stats["chunks_already_committed"],
        "chunks_dropped_corrupt": stats["chunks_dropped_corrupt"],
        "tails_dropped": stats["tails_dropped"],
        "tail_seconds_dropped": round(stats["tail_seconds"], 3),
        "video_seconds": round(stats["video_seconds"], 3),
        "warnings": stats["warnings"],
        "shards_written": [p.name for p in shards],
        "seconds": round(seconds, 3),
        "decode_seconds": round(stats["decode_s"], 3),
        "model_seconds": round(stats["models_s"], 3),
        "realtime_factor": round(stats["video_seconds"] / seconds, 3) if seconds > 0 else 0.0,
        "failures_manifest": os.fspath(Path(cfg.out) / f"failures-{partition_tag(index)}.jsonl"),
    }
