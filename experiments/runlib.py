"""What the experiments share: running ``train.py`` on the tiny recipe, and reading run folders back
(``<out>/<row>-seed<n>/version_*``): the final checkpoint, the test metrics as a flat dict and the activity ratio
from the test writer's per-clip counts.

Scripts in ``experiments/`` import it by name (``from runlib import ...``): Python puts a script's own folder
first on the import path.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run_cli(args: list[str]) -> None:
    """``python train.py <args>`` in the repository, echoed; a failure stops the experiment."""
    cmd = [sys.executable, str(REPO / "train.py"), *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def tiny_args(root: Path, data_root: Path, test_scenes: int) -> list[str]:
    """The tiny recipe writing to ``root`` on the synthetic scenes of ``data_root``, without progress bars or FAD."""
    return [
        "--config",
        str(REPO / "configs" / "tiny.yaml"),
        f"--trainer.default_root_dir={root}",
        "--trainer.enable_progress_bar=false",
        f"--data.synthetic.root={data_root}",
        f"--data.synthetic.test_scenes={test_scenes}",
        "--model.fad=false",
    ]


def flatten(values: dict[str, Any], prefix: str = "test/") -> dict[str, float]:
    """Metric dict → ``{column key: float}``; the first mono FAD variant becomes ``fad``."""
    out = {k.removeprefix(prefix): float(v) for k, v in values.items()}
    fads = sorted(k for k in out if k.startswith("fad") and k.endswith("_mono"))  # not the L/R-concat variant
    if fads:
        out["fad"] = out[fads[0]]
    return out


def versions(root: Path) -> list[Path]:
    """A run folder's ``version_*`` folders, oldest first."""
    return sorted(root.glob("version_*"), key=lambda p: int(p.name.split("_")[1]))


def last_checkpoint(root: Path) -> Path:
    """A run folder's final checkpoint: ``last.ckpt`` of its newest version that has checkpoints, else that
    version's newest ``.ckpt``; a clear error when there is none."""
    for version in reversed(versions(root)):
        if (version / "checkpoints" / "last.ckpt").is_file():
            return version / "checkpoints" / "last.ckpt"
        ckpts = sorted((version / "checkpoints").glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
        if ckpts:
            return ckpts[-1]
    raise FileNotFoundError(f"{root}: no version_*/checkpoints/*.ckpt (train the run first)")


def activity_ratio(root: Path) -> float:
    """Active 0.1-s event frames of the generated clips over those of the ground truth (the localiser's activity,
    from the test writer's per-clip counts). Near 1 when the generated audio is quiet where the reference is; a
    generator with a noise floor makes every frame an event, each scored by the pan of that noise."""
    import csv

    tested = [v for v in versions(root) if any(v.glob("test/clips_rank*.csv"))]
    gen = ref = 0
    for path in sorted(tested[-1].glob("test/clips_rank*.csv")) if tested else []:  # the newest test only
        with path.open() as f:
            for r in csv.DictReader(f):
                gen += int(r["spatial_tp"]) + int(r["spatial_fn"])
                ref += int(r["spatial_tp_reference"]) + int(r["spatial_fn_reference"])
    return gen / ref if ref else math.nan
