"""Benchmark: seconds of compute per second of video for ``predict`` on a silent video, tiny recipe, CPU.

    python bench/predict.py [--seconds 10] [--threads 1] [--repeats 2] [--out bench/out/predict.json]
    python bench/predict.py --lengths 60 180 600   # long inputs: peak memory and compute at 1, 3 and 10 minutes

Voices a silent synthetic scene (``--seconds`` long, H.264, no soundtrack) with a bundled reference sound through
the predict seams (``stereosync.demo.engine.Engine``: ``ShardDataModule`` predict inputs + ``PredictionWriter`` +
``Trainer.predict``; the tiny recipe ``configs/tiny.yaml`` with its shipped vision models, envelope predictor and
trained weights) and splits the time into:

- ``decoding``: reading and resampling the video's frames (the extraction's own ``decode_seconds``);
- ``vision models``: depth, detector + tracker, motion features (the extraction's ``model_seconds``);
- ``envelope predictor``: its forward passes (timed by global module hooks);
- ``generation``: ``predict_step`` of every chunk batch (conditioning, sampler, decoder);
- ``muxing``: the prediction writer's end (closing the wav, writing the video file with the audio); its
  per-batch work (resampling, cross-fading, appending to the wav) falls in ``other``;
- ``other``: the rest of the wall time (CLAP of the reference, loading the vision models, the data pipeline).

Each row is seconds per second of video; the median over ``--repeats`` runs after ``--warmup`` unmeasured ones.

``--lengths`` runs one fresh process per length (one measured run, no warm-up) and prints, side by side, its peak
resident memory (the process's maximum RSS: models, extraction, generation, writing) and compute per second of
video, with each length's peak memory as a ratio of the shortest's: memory that stays flat with the video's length
means features and audio are handled per chunk, not held whole.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import torch

REPO = Path(__file__).resolve().parents[1]
STAGES = ("decoding", "vision models", "envelope predictor", "generation", "muxing", "other")


class StageTimer(pl.Callback):
    """Generation time per predict batch; the time the writer's end starts (placed before the writer)."""

    def __init__(self):
        super().__init__()
        self.generation, self.end_started, self._t0 = 0.0, None, None

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._t0 = time.perf_counter()

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.generation += time.perf_counter() - self._t0

    def on_predict_end(self, trainer, pl_module) -> None:
        self.end_started = time.perf_counter()


class EnvelopeTimer:
    """Time spent in ``EnvelopePredictor`` forward passes, with global module hooks (removed by ``close``)."""

    def __init__(self):
        from stereosync.models.envelope_predictor import EnvelopePredictor

        self.seconds, self._starts = 0.0, []

        def pre(module, args):
            if isinstance(module, EnvelopePredictor):
                self._starts.append(time.perf_counter())

        def post(module, args, output):
            if isinstance(module, EnvelopePredictor):
                self.seconds += time.perf_counter() - self._starts.pop()

        self._handles = [
            torch.nn.modules.module.register_module_forward_pre_hook(pre),
            torch.nn.modules.module.register_module_forward_hook(post),
        ]

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


LOOP_SECONDS = 20.0
"""Longer videos repeat a scene of this length, so making the input costs the same memory at every length."""


def silent_video(seconds: float, folder: Path) -> Path:
    """A silent synthetic scene as H.264 (else MPEG-4) mp4; past ``LOOP_SECONDS`` the scene's frames repeat."""
    import av

    from stereosync.data.render import video_codec
    from stereosync.data.synthetic import generate_scene

    scene = generate_scene(seed=2024, duration=min(seconds, LOOP_SECONDS), sample_rate=16000)
    path = folder / "silent.mp4"
    frames = int(round(seconds * 30))
    with av.open(str(path), "w") as c:
        s = c.add_stream(video_codec(), rate=30)
        s.width, s.height, s.pix_fmt = scene.frames.shape[2], scene.frames.shape[1], "yuv420p"
        for i in range(frames):
            img = scene.frames[i % len(scene.frames)]
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode(None))
    return path


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB (Linux reports ``ru_maxrss`` in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def long_inputs(lengths: list[float], threads: int, out: str) -> list[dict[str, float]]:
    """One fresh process per length; its peak RSS and compute per second of video, printed side by side."""
    import subprocess

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in lengths:
            child_out = Path(tmp) / f"{seconds:g}.json"
            cmd = [sys.executable, __file__, "--seconds", str(seconds), "--repeats", "1", "--warmup", "0"]
            cmd += ["--threads", str(threads), "--out", str(child_out)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            child = json.loads(child_out.read_text())
            rows.append({"seconds": seconds, "peak_rss_mib": child["peak_rss_mib"]} | child["seconds_per_video_second"])
    base = rows[0]["peak_rss_mib"]
    print(f"predict on long silent videos, tiny recipe, CPU, {threads} thread(s), one process per length:")
    print(f"  {'video':>8} {'peak RSS MiB':>13} {'× shortest':>11} {'compute s / s':>14}")
    for r in rows:
        ratio = r["peak_rss_mib"] / base
        print(f"  {r['seconds'] / 60:6.1f} min {r['peak_rss_mib']:13.0f} {ratio:11.2f} {r['total']:14.3f}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"lengths": rows}, indent=1))
    return rows


def one_run(engine, video: Path, reference: Path, seconds: float) -> dict[str, float]:
    """Seconds per second of video, per stage, of one ``predict``."""
    timer, envelope = StageTimer(), EnvelopeTimer()
    t0 = time.perf_counter()
    try:
        result = engine.generate(video, reference, seed=0, callbacks=[timer])
    finally:
        envelope.close()
    total = time.perf_counter() - t0
    summary = json.loads(next((result.run / "features").glob("summary-*.json")).read_text())
    stages = {
        "decoding": summary["decode_seconds"],
        "vision models": summary["model_seconds"],
        "envelope predictor": envelope.seconds,
        "generation": timer.generation,  # the predictor runs in the data loader, outside predict_step
        "muxing": t0 + total - timer.end_started,
    }
    stages["other"] = total - sum(stages.values())
    return {k: v / seconds for k, v in stages.items()} | {"total": total / seconds}


def main(argv: Sequence[str] | None = None) -> dict[str, float] | list[dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="length of the silent video")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--repeats", type=int, default=2, help="measured runs")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (model loads, allocator)")
    p.add_argument("--out", default="bench/out/predict.json")
    p.add_argument(
        "--lengths", type=float, nargs="+", default=None, help="video lengths in s: peak memory per length instead"
    )
    args = p.parse_args(argv)
    if args.lengths:
        return long_inputs(args.lengths, args.threads, args.out)
    sys.path.insert(0, str(REPO / "src"))
    from stereosync import quiet

    quiet.install()
    torch.set_num_threads(args.threads)
    from stereosync.demo.engine import Engine
    from stereosync.demo.examples import example_sounds

    with tempfile.TemporaryDirectory() as tmp:
        video = silent_video(args.seconds, Path(tmp))
        engine = Engine(work_dir=Path(tmp) / "work")
        reference = example_sounds()["gravel"]
        for _ in range(args.warmup):
            one_run(engine, video, reference, args.seconds)
        runs = [one_run(engine, video, reference, args.seconds) for _ in range(args.repeats)]
    result = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(
        f"predict, {args.seconds:.0f}-s silent video, tiny recipe, CPU, {args.threads} thread(s), "
        f"median of {args.repeats} (seconds of compute per second of video):"
    )
    for k in (*STAGES, "total"):
        print(f"  {k:<20} {result[k]:8.4f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {"args": vars(args), "seconds_per_video_second": result, "runs": runs, "peak_rss_mib": peak_rss_mib()},
            indent=1,
        )
    )
    return result


if __name__ == "__main__":
    main()
