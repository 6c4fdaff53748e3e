"""Binaural and FOA tables on held-out synthetic scenes: ground truth, the end-to-end and two-stage routes, an
always-front render.

The shipped final-recipe weights (``pkg://stereosync/weights/tiny_full_2800.safetensors``, loaded into the tiny
recipe ``configs/tiny.yaml``) generate stereo for each held-out test scene (seed 0, split ``test``, 6 s at
16 kHz, in the test stage's 2-s chunks, peak-normalised and seeded by key as ``train.py test`` does; the
chunks are joined back into the scene). The end-to-end weights (``pkg://stereosync/weights/tiny_binaural_2800
.safetensors``, loaded into ``configs/tiny.yaml`` + ``configs/tiny_binaural.yaml``) generate binaural for the
same chunks in the same way. Each row is then scored over whole scenes against the generator's true boxes:

- ``ground truth``: the scene's binaural (FOA) render;
- ``end-to-end (generated)``: the binaural that the model trained on binaural targets generates (no FOA);
- ``two-stage (generated)``: :func:`stereosync.spatial.spatialise` of the generated stereo;
- ``two-stage, pan only (generated)``: the same without boxes, so each sound's direction comes from the
  generated stereo pan alone (with boxes, a one-character scene's sound goes to its box whatever the pan);
- ``two-stage (ground-truth stereo)``: the same of the scene's own stereo (the route's ceiling);
- ``always front``: the scene's stereo downmixed (L + R)/√2 and rendered from straight ahead.

Binaural columns: binaural Spatial AV-Align and azimuth MAE (degrees); FOA columns: the DOA error (degrees)
against the boxes and, for rendered rows, against the ground-truth FOA in its active frames. The binaural
table is repeated on the two-character scenes, where the route must choose between boxes. "MAE vs own
character" scores single footsteps (no other character within 0.2 s) against their own character's box
rather than the nearest one, from the generator's step times.

    python experiments/binaural_eval.py --scenes 48 --out runs/binaural_eval

Writes ``<out>/tables.md`` and ``<out>/results.json``; prints the tables and the wall time.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from runlib import REPO

SR = 16000
WEIGHTS = "pkg://stereosync/weights/tiny_full_2800.safetensors"
E2E_WEIGHTS = "pkg://stereosync/weights/tiny_binaural_2800.safetensors"
ROWS = (
    "ground truth",
    "end-to-end (generated)",
    "two-stage (generated)",
    "two-stage, pan only (generated)",
    "two-stage (ground-truth stereo)",
    "always front",
)


def load_model(weights: str, *extra_configs: str):
    """The tiny recipe's module (with ``extra_configs`` stacked on it) with trained weights, in eval mode."""
    from stereosync.cli import cli_main
    from stereosync.models.trainable_weights import load_trainable

    configs = [a for name in ("tiny.yaml", *extra_configs) for a in ("--config", str(REPO / "configs" / name))]
    cfg = [*configs, "--trainer.logger=false", "--trainer.callbacks=[]"]
    cli = cli_main(cfg, run=False)
    module = cli.model.eval()
    load_trainable(module, weights)
    return module, float(cli.datamodule.hparams.chunk_seconds)


@torch.inference_mode()
def generate_scene_audio(module, scene, name: str, chunk_seconds: float) -> np.ndarray:
    """Generated audio (2, S) of a scene: its chunks as the test stage batches them, joined in order."""
    from stereosync.data import pipeline
    from stereosync.data.synthetic import scene_to_samples

    samples = scene_to_samples(scene, chunk_seconds=chunk_seconds, key_prefix=name)
    samples = [pipeline.augment(s, chunk_seconds, None, True, False) for s in samples]
    batch = pipeline.collate(samples, {})
    audio = module.generate(batch, module.clip_seeds(batch["__key__"]))  # (C, 2, T)
    return torch.cat(list(audio), dim=-1).float().numpy()


def front(audio: np.ndarray, fmt: str) -> np.ndarray:
    """The stereo's downmix rendered from straight ahead: binaural (2, S) or FOA (4, S)."""
    from scipy.signal import oaconvolve

    from stereosync.spatial.ambisonics import encode_gains
    from stereosync.spatial.hrtf import kemar

    mid = (audio[0] + audio[1]) / math.sqrt(2)
    if fmt == "foa":
        return encode_gains(0.0)[:, None] * mid[None]
    return oaconvolve(mid[None], kemar(SR).hrir(0.0), axes=-1)[:, : audio.shape[-1]]


def attributed_error(azimuth: torch.Tensor, active: torch.Tensor, scene) -> tuple[float, int]:
    """Σ|azimuth error| (degrees) and count over footsteps scored against *their own* character's box.

    A footstep counts when its onset lies in the first 60 % of an active 0.1-s frame and no other character
    steps within 0.2 s; the error is against its character's box centre at the frame's centre.
    """
    from stereosync.spatial.geometry import azimuth_from_x

    err, n = 0.0, 0
    for t, k in zip(scene.step_times, scene.step_character):
        j = int(t / 0.1)
        others = np.abs(scene.step_times[scene.step_character != k] - t)
        if t / 0.1 - j > 0.6 or j >= len(active) or not active[j] or (others < 0.2).any():
            continue
        box = scene.boxes[min(int(round((j + 0.5) * 0.1 * scene.video_fps)), len(scene.boxes) - 1), k]
        err += abs(float(azimuth[j]) - float(azimuth_from_x(0.5 * (box[0] + box[2]))))
        n += 1
    return err, n


def score_scene(scene, generated: np.ndarray, end_to_end: np.ndarray, *sums: dict) -> None:
    """Add one scene's counts to ``sums[row][column]`` of every dict given."""
    from stereosync.metrics.functional.binaural_align import azimuth_events, binaural_stats
    from stereosync.metrics.functional.foa_doa import foa_doa_error_between, foa_doa_stats
    from stereosync.spatial.spatialise import spatialise

    boxes, mask = torch.from_numpy(scene.boxes), torch.from_numpy(scene.box_mask)

    def two_stage(stereo: np.ndarray, mask: np.ndarray = scene.box_mask) -> tuple[np.ndarray, np.ndarray]:
        return tuple(spatialise(stereo, SR, scene.boxes, mask, fmt=f) for f in ("binaural", "foa"))

    renders = {
        "ground truth": (scene.binaural, scene.foa),
        "end-to-end (generated)": (end_to_end, None),
        "two-stage (generated)": two_stage(generated),
        "two-stage, pan only (generated)": two_stage(generated, np.zeros_like(scene.box_mask)),
        "two-stage (ground-truth stereo)": two_stage(scene.audio),
        "always front": (front(scene.audio, "binaural"), front(scene.audio, "foa")),
    }
    for row, (binaural, foa) in renders.items():
        ev = azimuth_events(torch.from_numpy(np.asarray(binaural)), SR, boxes, mask)
        b = binaural_stats(ev)
        own_err, own_n = attributed_error(ev.azimuth, ev.active, scene)
        counts = {"tp": b.tp, "fn": b.fn, "az_err": b.abs_err_sum, "az_n": b.n_matched}
        if foa is not None:
            d = foa_doa_stats(torch.from_numpy(np.asarray(foa)), SR, boxes, mask)
            g = foa_doa_error_between(torch.from_numpy(np.asarray(foa)), torch.from_numpy(scene.foa), SR)
            counts.update(doa_err=d.err_sum, doa_n=d.n_matched, gt_err=g.err_sum, gt_n=g.n_matched)
        counts.update(own_err=own_err, own_n=own_n)
        for target in sums:
            for key, value in counts.items():
                target[row][key] += value


def row_values(s: dict) -> dict:
    """Scores of one row from its summed counts."""
    return {
        "binaural_spatial_av_align": s["tp"] / max(s["tp"] + s["fn"], 1),
        "azimuth_mae": s["az_err"] / max(s["az_n"], 1),
        "foa_doa_error_boxes": s["doa_err"] / max(s["doa_n"], 1),
        "foa_doa_error_vs_gt": s["gt_err"] / max(s["gt_n"], 1),
        "events": int(s["tp"] + s["fn"]),
        "azimuth_mae_own_character": s["own_err"] / max(s["own_n"], 1),
        "footsteps_own_character": int(s["own_n"]),
    }


def binaural_table(values: dict, title: str) -> list[str]:
    head = "| row | binaural Spatial AV-Align | azimuth MAE (°) | events | MAE vs own character (°) | footsteps |"
    lines = [title, "", head, "|---|---|---|---|---|---|"]
    for row, v in values.items():
        lines.append(
            f"| {row} | {v['binaural_spatial_av_align']:.3f} | {v['azimuth_mae']:.1f} | {v['events']} "
            f"| {v['azimuth_mae_own_character']:.1f} | {v['footsteps_own_character']} |"
        )
    return lines


def tables(sums: dict, two: dict, n_scenes: int, n_two: int) -> tuple[str, dict]:
    """Markdown tables (all scenes; binaural on the two-character ones) and the row values."""
    values = {row: row_values(sums[row]) for row in ROWS}
    lines = binaural_table(values, f"Binaural, {n_scenes} held-out synthetic scenes (6 s, 16 kHz)")
    lines += ["", "FOA (ambiX), the same scenes", "",
              "| row | DOA error vs boxes (°) | DOA error vs ground-truth FOA (°) |", "|---|---|---|"]  # fmt: skip
    for row, v in values.items():
        if row == "end-to-end (generated)":  # generates binaural only
            continue
        vs_gt = "—" if row == "ground truth" else f"{v['foa_doa_error_vs_gt']:.1f}"
        lines.append(f"| {row} | {v['foa_doa_error_boxes']:.1f} | {vs_gt} |")
    two_values = {row: row_values(two[row]) for row in ROWS}
    lines += ["", *binaural_table(two_values, f"Binaural, the {n_two} two-character scenes among them")]
    return "\n".join(lines), {"all": values, "two_characters": two_values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=48, help="held-out test scenes (seed 0, split test)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "binaural_eval")
    parser.add_argument("--weights", default=WEIGHTS, help="trainable weights of the stereo model (two-stage)")
    parser.add_argument("--e2e-weights", default=E2E_WEIGHTS, help="trainable weights of the end-to-end model")
    a = parser.parse_args()
    torch.set_num_threads(1)
    from stereosync.data.synthetic import generate_scene, scene_seed

    t0 = time.perf_counter()
    module, chunk = load_model(a.weights)
    e2e, _ = load_model(a.e2e_weights, "tiny_binaural.yaml")
    sums: dict = defaultdict(lambda: defaultdict(float))
    two: dict = defaultdict(lambda: defaultdict(float))  # scenes with two characters only
    t_gen, t_e2e, n_two = 0.0, 0.0, 0
    for i in range(a.scenes):
        scene = generate_scene(scene_seed(0, "test", i), duration=6.0, sample_rate=SR)
        t1 = time.perf_counter()
        generated = generate_scene_audio(module, scene, f"test_{i:06d}", chunk)
        t_gen += time.perf_counter() - t1
        t1 = time.perf_counter()
        end_to_end = generate_scene_audio(e2e, scene, f"test_{i:06d}", chunk)
        t_e2e += time.perf_counter() - t1
        n_two += len(scene.materials) == 2
        score_scene(scene, generated, end_to_end, sums, *([two] if len(scene.materials) == 2 else []))
        print(f"scene {i + 1}/{a.scenes} done, {time.perf_counter() - t0:.0f} s", flush=True)
    text, values = tables(sums, two, a.scenes, n_two)
    wall = time.perf_counter() - t0
    text += (
        f"\n\nWall time {wall:.0f} s ({t_gen:.0f} s generating stereo, {t_e2e:.0f} s generating binaural), "
        f"2-core CPU, 1 torch thread; "
        f"command: python experiments/binaural_eval.py --scenes {a.scenes}"
    )
    print(text)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "tables.md").write_text(text + "\n")
    meta = {"scenes": a.scenes, "weights": a.weights, "e2e_weights": a.e2e_weights, "wall_s": round(wall, 1)}
    meta.update(generate_s=round(t_gen, 1), generate_e2e_s=round(t_e2e, 1))
    (a.out / "results.json").write_text(json.dumps({**meta, "rows": values}, indent=1))


if __name__ == "__main__":
    main()
