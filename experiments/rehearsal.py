"""End-to-end rehearsal of the real run on real-format model files (random values, real sizes), on a CPU.

    python experiments/rehearsal.py --root ~/.cache/stereosync/realformat --work runs/rehearsal

Stages, each a separate process as a user would run it (docs/real_run.md), each followed by a check of what it
wrote (experiments/rehearsal_checks.py):

1. ``stereosync-extract`` with the real-format models on a 5.1, 48-kHz H.264 + AAC video (experiments/
   rehearsal_media.py) → 44.1-kHz stereo shards, shared by the train, val and test splits;
2. the doctor on the whole run;
3. ``train.py fit --config configs/sao.yaml`` killed (SIGKILL) after its first checkpoint, resumed with
   ``--ckpt_path last`` to ``--steps`` (the step count goes on; the checkpoint holds trainable weights only);
4. one step with ``model.backbone.init_args.dtype: bfloat16``;
5. ``validate``, ``test`` with ``--sampler-steps``;
6. the envelope predictor (configs/envelope_predictor.yaml) fitted a few steps on the 44.1-kHz shards and exported;
7. ``predict`` on a silent portrait video, with a reference sound for the timbre and that predictor;
8. the demo's engine from ``--config configs/sao.yaml`` on the same video (experiments/rehearsal_demo.py): the
   checkpoint reloads bit-exactly, the recipe's 16-kHz predictor is refused, the rehearsal's one is used.

Prints one table: per stage, wall time, peak RSS, real-time factor (wall time over the seconds of video or
audio the stage handled) and what its check found; stops at the first failure and names its log. ``--root``
holds the files of ``python -m stereosync.realformat`` (made when missing). Needs about 12 GiB of memory.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import rehearsal_checks as checks  # noqa: E402
from rehearsal_media import SURROUND, make_videos  # noqa: E402

PYTHON, RECIPE = sys.executable, ["--config", "configs/sao.yaml"]
FIT = "fit, killed after its first checkpoint"


def overlay(work: Path, where: dict[str, Path], args: argparse.Namespace) -> Path:
    """A config over configs/sao.yaml: CPU, batch 1, the rehearsal's files; ``last.ckpt`` rewritten every step.

    Only ``last.ckpt`` is kept (``save_top_k: 0``): each checkpoint of the real-size ControlNet holds 0.72 GiB of
    trainable weights and twice that of AdamW state, so one file per step would fill a runner's disk.
    """
    shards = str(work / "shards")
    config = {
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "precision": "32-true",
            "max_steps": args.steps,
            "accumulate_grad_batches": 1,
            "val_check_interval": 1.0,
            "limit_val_batches": 1,
            "num_sanity_val_steps": 0,
            "log_every_n_steps": 1,
            "enable_progress_bar": False,
            "default_root_dir": str(work / "runs"),
            "callbacks": [
                {
                    "class_path": "stereosync.training.run_checkpoint.RunFolderModelCheckpoint",
                    "init_args": {"save_last": True, "save_top_k": 0, "every_n_train_steps": 1},
                },
                {"class_path": "callbacks.test_writer.TestOutputWriter"},
                {"class_path": "callbacks.prediction_writer.PredictionWriter"},
            ],
        },
        "model": {
            "backbone": {"init_args": {"weights": str(where["sao"])}},
            "clap_checkpoint": str(where["clap"]),
            "sampler": {"steps": args.sampler_steps},
        },
        "data": {
            "train_shards": shards,
            "val_shards": shards,
            "test_shards": shards,
            "chunk_seconds": args.chunk_seconds,
            "predict_hop_seconds": min(1.5, args.chunk_seconds),
            "batch_size": 1,
            "num_workers": 0,
            "steps_per_epoch": args.steps,
            "shuffle_buffer": 2,
        },
    }
    path = work / "rehearsal.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def models(where: dict[str, Path]) -> dict[str, str]:
    """The extraction models (``ModelConfig`` fields)."""
    names = {"depth_model": "depth", "detector": "detector", "image_encoder": "image_encoder"}
    return {**{field: str(where[part]) for field, part in names.items()}, "clap_checkpoint": str(where["clap"])}


def extract_flags(where: dict[str, Path]) -> list[str]:
    return [f"--{k.replace('_', '-')}={v}" for k, v in models(where).items()]


def data_flags(where: dict[str, Path]) -> list[str]:
    return [f"--data.predict_models.{k}={v}" for k, v in models(where).items()]


class Stages:
    """Runs the stages as child processes, timing each (``/usr/bin/time``), checks their outputs, keeps the table."""

    def __init__(self, work: Path, sao: Path):
        self.work, self.rows = work, []
        self.env = dict(
            os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=f"{REPO / 'src'}:{REPO}", STEREOSYNC_SAO_DIR=str(sao)
        )

    def start(self, name: str, argv: list[str]) -> tuple[subprocess.Popen, Path, Path, float]:
        log, stats = self.work / "logs" / f"{name}.log", self.work / "logs" / f"{name}.time"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["/usr/bin/time", "-o", str(stats), "-f", "%M", *argv]
        with open(log, "w") as out:
            proc = subprocess.Popen(
                cmd, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return proc, log, stats, time.perf_counter()

    def finish(self, name, proc, log, stats, t0, media: float | None, check: Callable[[Path], str] | None) -> bool:
        code = proc.wait()
        wall = time.perf_counter() - t0
        text = stats.read_text().strip().splitlines() if stats.is_file() else []
        rss = int(text[-1]) / 2**20 if text and text[-1].isdigit() else float("nan")
        found, ok = "", code == 0
        if ok and check is not None:
            try:
                found = check(log)
            except Exception as err:  # noqa: BLE001 - any failure of a check fails the stage, named in the table
                found, ok = f"FAILED: {err}", False
        elif code != 0:
            found = f"exit {code}, see {log}"
        rtf = wall / media if media else None
        self.rows.append((name, wall, rss, rtf, found))
        print(f"{name}: {wall:.0f} s, peak RSS {rss:.2f} GiB, exit {code}; {found}", flush=True)
        return ok

    def run(self, name: str, argv: list[str], media: float | None = None, check=None) -> bool:
        return self.finish(name, *self.start(name, argv), media, check)

    def run_killed(self, name: str, argv: list[str], marker: Path, timeout: float = 3600) -> bool:
        """Start ``argv``, SIGKILL it once ``marker`` exists (its first checkpoint); True when it was killed."""
        proc, log, stats, t0 = self.start(name, argv)
        deadline = time.time() + timeout
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(1)
        size = -1
        while marker.exists() and proc.poll() is None and marker.stat().st_size != size:  # written whole
            size = marker.stat().st_size
            time.sleep(2)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the process group started for the fit
        self.finish(name, proc, log, stats, t0, None, None)
        if marker.exists():
            self.rows[-1] = (*self.rows[-1][:-1], f"SIGKILL once {marker.parent.parent.name}/{marker.name} was written")
        return marker.exists()

    def table(self) -> str:
        lines = ["| stage | wall (s) | peak RSS (GiB) | RTF | checked |", "|---|---|---|---|---|"]
        for name, wall, rss, rtf, found in self.rows:
            lines.append(f"| {name} | {wall:.0f} | {rss:.2f} | {'—' if rtf is None else f'{rtf:.0f}'} | {found} |")
        return "\n".join(lines)


def extract_and_check(stages: Stages, work: Path, where: dict, videos: dict, cfg: list[str], chunk: float) -> bool:
    """One ``stereosync-extract`` of the 5.1 video, then the doctor on the whole run."""
    out = work / "shards"
    argv = [PYTHON, "-m", "stereosync.extract", "--inputs", str(videos["voiced"]), "--out", str(out)]
    argv += [*extract_flags(where), "--device", "cpu", "--precision", "float32", "--chunk-seconds", str(chunk)]
    argv += ["--sample-rate", "44100", "--no-progress"]
    shards = lambda log: checks.shards(out, chunk, {SURROUND})  # noqa: E731
    return stages.run("extract (5.1, 48 kHz)", argv, media=chunk, check=shards) and stages.run(
        "doctor", [PYTHON, "-m", "stereosync.doctor", *RECIPE, *cfg, *data_flags(where)], check=checks.doctor
    )


def fit_and_resume(stages: Stages, work: Path, cfg: list[str], steps: int) -> bool:
    """``fit`` killed after its first checkpoint, resumed with ``--ckpt_path last``; then one bf16-backbone step."""
    fit = [PYTHON, "train.py", "fit", *RECIPE, *cfg]
    killed = work / "runs" / "version_0" / "checkpoints" / "last.ckpt"
    if not stages.run_killed(FIT, fit, killed):
        return False
    last = work / "runs" / "version_1" / "checkpoints" / "last.ckpt"
    resume = lambda log: checks.resumed(killed, last, log, steps)  # noqa: E731
    if not stages.run("fit resumed (--ckpt_path last)", [*fit, "--ckpt_path", "last"], check=resume):
        return False
    bf16 = work / "runs_bf16" / "version_0" / "checkpoints" / "last.ckpt"
    argv = [*fit, "--model.backbone.init_args.dtype=bfloat16", "--trainer.max_steps=1", "--data.steps_per_epoch=1"]
    argv += [f"--trainer.default_root_dir={work / 'runs_bf16'}", "--trainer.limit_val_batches=0"]
    same = lambda log: checks.trainable_only(bf16, 1)[1] + "; " + checks.same_keys(last, bf16)  # noqa: E731
    return stages.run("fit, backbone.dtype bfloat16 (1 step)", argv, check=same)


def evaluate(stages: Stages, work: Path, cfg: list[str], chunk: float) -> bool:
    """validate and test from the resumed run's ``last.ckpt``."""
    ckpt = ["--ckpt_path", str(work / "runs" / "version_1" / "checkpoints" / "last.ckpt")]
    val = [PYTHON, "train.py", "validate", *RECIPE, *cfg, *ckpt, f"--trainer.default_root_dir={work / 'validate'}"]
    test = [PYTHON, "train.py", "test", *RECIPE, *cfg, *ckpt, f"--trainer.default_root_dir={work / 'test'}"]
    outputs = lambda log: checks.test_outputs(work / "test" / "version_0" / "test", chunk)  # noqa: E731
    return stages.run("validate", val, check=lambda log: checks.metric(log, "val/loss")) and stages.run(
        "test", test, media=chunk, check=outputs
    )


def envelope_predictor(stages: Stages, work: Path, steps: int, chunk: float) -> Path | None:
    """configs/envelope_predictor.yaml for ``steps`` steps on the rehearsal's 44.1-kHz shards, exported."""
    root, out = work / "envelope", work / "envelope_predictor.safetensors"
    shards = str(work / "shards")
    argv = [PYTHON, "train.py", "fit", "--config", "configs/envelope_predictor.yaml", "--data.synthetic=null"]
    argv += [f"--data.{s}_shards={shards}" for s in ("train", "val", "test")]
    argv += ["--data.sample_rate=44100", "--model.init_args.sample_rate=44100", "--model.init_args.num_objects=1"]
    argv += [f"--trainer.max_steps={steps}", f"--data.steps_per_epoch={steps}", "--data.batch_size=1"]
    argv += ["--data.num_workers=0", "--data.shuffle_buffer=2", "--trainer.limit_val_batches=0"]
    argv += [f"--data.chunk_seconds={chunk}"]
    argv += [f"--trainer.default_root_dir={root}", "--trainer.enable_progress_bar=false"]
    ckpt = root / "version_0" / "checkpoints" / "last.ckpt"
    export = [PYTHON, "-m", "stereosync.envelope_training", "export", str(ckpt), str(out)]
    fitted = lambda log: checks.at_step(ckpt, steps)  # noqa: E731
    ok = stages.run(f"envelope predictor: fit {steps} steps on the shards", argv, check=fitted) and stages.run(
        "envelope predictor: export", export, check=lambda log: checks.predictor(out, 1)
    )
    return out if ok else None


def voice_silent(stages, work, where, videos, cfg, predictor: Path, steps: int, chunk: float) -> bool:
    """``predict`` and the demo engine on the silent portrait video."""
    from stereosync.media import video_duration

    seconds, _ = video_duration(videos["silent"])
    ckpt = work / "runs" / "version_1" / "checkpoints" / "last.ckpt"
    argv = [PYTHON, "train.py", "predict", *RECIPE, *cfg, "--ckpt_path", str(ckpt), *data_flags(where)]
    argv += [f"--data.predict_videos={videos['silent']}", f"--data.clap_reference={videos['reference']}"]
    argv += [f"--data.envelope_predictor={predictor}", f"--trainer.default_root_dir={work / 'predict'}"]
    out = work / "predict" / "version_0" / "predict" / videos["silent"].stem

    def written(log: Path) -> str:
        audio = checks.wav(out.with_suffix(".wav"), seconds)
        return f"{audio}; {checks.video_audio(out.with_suffix('.mp4'), seconds)}"

    if not stages.run("predict (silent portrait video)", argv, media=seconds, check=written):
        return False
    demo = [PYTHON, str(HERE / "rehearsal_demo.py"), "--config", "configs/sao.yaml", "--checkpoint", str(ckpt)]
    demo += ["--predict-models", json.dumps(models(where)), "--envelope-predictor", str(predictor)]
    demo += ["--video", str(videos["silent"]), "--reference", str(videos["reference"]), "--work", str(work / "demo")]
    data = {"chunk_seconds": chunk, "predict_hop_seconds": min(1.5, chunk)}
    demo += ["--steps", str(steps), "--data", json.dumps(data)]

    def demo_line(log: Path) -> str:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("demo: ")]
        checks.need(bool(lines), f"{log}: no summary line")
        return lines[-1][len("demo: ") :]

    return stages.run("demo engine --config configs/sao.yaml (silent video)", demo, media=seconds, check=demo_line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="real-format files (python -m stereosync.realformat)")
    parser.add_argument("--work", required=True, help="an empty or new folder: videos, shards, runs and logs")
    parser.add_argument("--steps", type=int, default=3, help="training steps (batch 1); the kill comes after the first")
    parser.add_argument("--sampler-steps", type=int, default=2, help="sampler steps of test, predict and the demo")
    parser.add_argument("--seconds", type=float, default=2.5, help="length of the 5.1 video")
    parser.add_argument("--chunk-seconds", type=float, default=2.0, help="chunk length (data.chunk_seconds)")
    parser.add_argument("--envelope-steps", type=int, default=20, help="envelope-predictor training steps")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be at least 2: the fit is killed after step 1 and resumed")
    from stereosync.realformat import make_all

    work = Path(args.work).absolute()
    if work.exists() and any(work.iterdir()):
        parser.error(f"--work {work} is not empty (the stages find their outputs by path)")
    where = make_all(args.root)
    stages = Stages(work, where["sao"])
    videos = make_videos(work, args.seconds, args.chunk_seconds)
    cfg = ["--config", str(overlay(work, where, args))]
    chunk = args.chunk_seconds
    ok = (
        extract_and_check(stages, work, where, videos, cfg, chunk)
        and fit_and_resume(stages, work, cfg, args.steps)
        and evaluate(stages, work, cfg, chunk)
    )
    predictor = envelope_predictor(stages, work, args.envelope_steps, chunk) if ok else None
    ok = predictor is not None and voice_silent(stages, work, where, videos, cfg, predictor, args.sampler_steps, chunk)
    print(stages.table(), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
