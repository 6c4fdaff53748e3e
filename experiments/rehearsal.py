"""End-to-end rehearsal of the real run on real-format model files (random values, real sizes), on a CPU.

    python experiments/rehearsal.py --root ~/.cache/stereosync/realformat --work runs/rehearsal

Stages, each a separate process as a user would run it (docs/real_run.md): real-codec videos (H.264 + AAC, the
synthetic scenes) → ``stereosync-extract`` with the real-format models → 44.1-kHz shards → doctor →
``train.py fit --config configs/sao.yaml`` for a few steps → the same fit killed after its first checkpoint and
resumed (``--ckpt_path last``) → validate → test with a few sampler steps → predict. Prints one row per stage:
wall time, peak RSS, exit status; stops at the first failure and names its log. ``--root`` holds the files of
``python -m stereosync.realformat`` (made when missing). Needs about 12 GiB of memory at the fit stages.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SPLITS = {"train": (101,), "val": (102,), "test": (103,)}


def make_videos(work: Path, seconds: float) -> dict[str, Path]:
    """One folder of synthetic-scene mp4s per split."""
    from stereosync.data.synthetic import generate_scene, write_mp4

    out = {}
    for split, seeds in SPLITS.items():
        folder = work / "videos" / split
        folder.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            if not (folder / f"scene{seed}.mp4").is_file():
                write_mp4(generate_scene(seed, duration=seconds, max_characters=1), folder / f"scene{seed}.mp4")
        out[split] = folder
    return out


def overlay(work: Path, where: dict[str, Path], steps: int, sampler_steps: int) -> Path:
    """A config over configs/sao.yaml: CPU, batch 1, a checkpoint every step, the rehearsal's files."""
    shards = {f"{s}_shards": str(work / "shards" / s) for s in SPLITS}
    config = {
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "precision": "32-true",
            "max_steps": steps,
            "accumulate_grad_batches": 1,
            "val_check_interval": 1.0,
            "limit_val_batches": 1,
            "log_every_n_steps": 1,
            "enable_progress_bar": False,
            "default_root_dir": str(work / "runs"),
            "callbacks": [
                {
                    "class_path": "stereosync.training.run_checkpoint.RunFolderModelCheckpoint",
                    "init_args": {"save_last": True, "save_top_k": -1, "every_n_train_steps": 1},
                },
                {"class_path": "callbacks.test_writer.TestOutputWriter"},
                {"class_path": "callbacks.prediction_writer.PredictionWriter"},
            ],
        },
        "model": {
            "backbone": {"init_args": {"weights": str(where["sao"])}},
            "clap_checkpoint": str(where["clap"]),
            "sampler": {"steps": sampler_steps},
        },
        "data": {**shards, "batch_size": 1, "num_workers": 0, "steps_per_epoch": steps, "shuffle_buffer": 2},
    }
    path = work / "rehearsal.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def model_flags(where: dict[str, Path], prefix: str) -> list[str]:
    """The extraction-model flags, for ``stereosync-extract`` (``--``) or ``data.predict_models`` (``--data.``)."""
    if prefix == "extract":
        return [
            "--depth-model",
            str(where["depth"]),
            "--detector",
            str(where["detector"]),
            "--image-encoder",
            str(where["image_encoder"]),
            "--clap-checkpoint",
            str(where["clap"]),
        ]
    return [
        f"--data.predict_models.depth_model={where['depth']}",
        f"--data.predict_models.detector={where['detector']}",
        f"--data.predict_models.image_encoder={where['image_encoder']}",
        f"--data.predict_models.clap_checkpoint={where['clap']}",
    ]


class Stages:
    """Runs the stages as child processes, timing each (``/usr/bin/time``), and keeps the table."""

    def __init__(self, work: Path):
        self.work, self.rows = work, []
        self.env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=f"{REPO / 'src'}:{REPO}")

    def start(self, name: str, argv: list[str]) -> tuple[subprocess.Popen, Path, Path, float]:
        log, stats = self.work / "logs" / f"{name}.log", self.work / "logs" / f"{name}.time"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["/usr/bin/time", "-o", str(stats), "-f", "%M", *argv]
        with open(log, "w") as out:
            proc = subprocess.Popen(
                cmd, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return proc, log, stats, time.perf_counter()

    def finish(self, name: str, proc, log: Path, stats: Path, t0: float) -> bool:
        code = proc.wait()
        wall = time.perf_counter() - t0
        text = stats.read_text().strip().splitlines() if stats.is_file() else []
        rss = int(text[-1]) / 2**20 if text and text[-1].isdigit() else float("nan")
        self.rows.append((name, wall, rss, code, log))
        print(f"{name}: {wall:.0f} s, peak RSS {rss:.2f} GiB, exit {code}", flush=True)
        return code == 0

    def run(self, name: str, argv: list[str]) -> bool:
        return self.finish(name, *self.start(name, argv))

    def run_killed(self, name: str, argv: list[str], marker: Path, timeout: float = 3600) -> bool:
        """Start ``argv``, SIGKILL it once ``marker`` exists (its first checkpoint); True when it was killed."""
        proc, log, stats, t0 = self.start(name, argv)
        deadline = time.time() + timeout
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(1)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the process group started for the fit
        self.finish(name, proc, log, stats, t0)
        return marker.exists()

    def table(self) -> str:
        lines = ["| stage | wall (s) | peak RSS (GiB) | exit | log |", "|---|---|---|---|---|"]
        lines += [f"| {n} | {w:.0f} | {r:.2f} | {c} | {log.name} |" for n, w, r, c, log in self.rows]
        return "\n".join(lines)


PYTHON, RECIPE = sys.executable, ["--config", "configs/sao.yaml"]


def extract_and_check(stages: Stages, work: Path, where: dict, videos: dict, cfg: list[str]) -> bool:
    """``stereosync-extract`` per split with the real-format models, then the doctor on the whole run."""
    for split in SPLITS:
        out = ["--inputs", str(videos[split]), "--out", str(work / "shards" / split)]
        cpu = ["--device", "cpu", "--precision", "float32"]
        if not stages.run(
            f"extract {split}", [PYTHON, "-m", "stereosync.extract", *out, *model_flags(where, "extract"), *cpu]
        ):
            return False
    return stages.run("doctor", [PYTHON, "-m", "stereosync.doctor", *RECIPE, *cfg, *model_flags(where, "data")])


def fit_and_resume(stages: Stages, work: Path, cfg: list[str]) -> bool:
    """``fit`` killed after its first checkpoint, then resumed with ``--ckpt_path last`` to the end."""
    fit = [PYTHON, "train.py", "fit", *RECIPE, *cfg]
    if not stages.run_killed(
        "fit, killed after its first checkpoint", fit, work / "runs" / "version_0" / "checkpoints" / "last.ckpt"
    ):
        return False
    ok = stages.run("fit resumed (--ckpt_path last)", [*fit, "--ckpt_path", "last"])
    log = (work / "logs" / "fit resumed (--ckpt_path last).log").read_text()
    if "no last checkpoint available" in log:  # Lightning looked only in the new process's version folder
        print("`--ckpt_path last` loaded nothing: the resumed run started from scratch", flush=True)
        return False
    return ok


def evaluate(stages: Stages, work: Path, where: dict, videos: dict, cfg: list[str]) -> bool:
    """validate, test and predict from the newest ``last.ckpt`` (the resumed run's)."""
    lasts = sorted((work / "runs").glob("version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    ckpt = ["--ckpt_path", str(lasts[-1])]
    predict = [f"--data.predict_videos={videos['test']}", *model_flags(where, "data")]
    return (
        stages.run("validate", [PYTHON, "train.py", "validate", *RECIPE, *cfg, *ckpt])
        and stages.run("test", [PYTHON, "train.py", "test", *RECIPE, *cfg, *ckpt])
        and stages.run("predict", [PYTHON, "train.py", "predict", *RECIPE, *cfg, *ckpt, *predict])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="real-format files (python -m stereosync.realformat)")
    parser.add_argument("--work", required=True, help="videos, shards, runs and logs go here")
    parser.add_argument("--steps", type=int, default=3, help="training steps (batch 1)")
    parser.add_argument("--sampler-steps", type=int, default=2, help="sampler steps of test and predict")
    parser.add_argument("--seconds", type=float, default=2.5, help="length of each video (one 2-s chunk)")
    args = parser.parse_args()
    from stereosync.realformat import make_all

    work = Path(args.work).absolute()
    where = make_all(args.root)
    stages = Stages(work)
    videos = make_videos(work, args.seconds)
    cfg = ["--config", str(overlay(work, where, args.steps, args.sampler_steps))]
    ok = (
        extract_and_check(stages, work, where, videos, cfg)
        and fit_and_resume(stages, work, cfg)
        and evaluate(stages, work, where, videos, cfg)
    )
    print(stages.table())
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
