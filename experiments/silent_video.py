"""Voicing a silent video at the final recipe, scored against the scenes' true footstep times.

Generates every held-out synthetic test scene (3 clips of 2 s each) three ways and scores each row, with the
scene's own audio as a fourth row:

- ``ground-truth envelope``: the shipped final-recipe weights (``tiny_full_2800.safetensors``), the
  ControlNet reading the envelope of the scene's audio (the paper's setting);
- ``predicted envelope``: the same weights, the envelope predicted from the video alone
  (``--data.envelope_source=predicted``);
- ``no envelope``: the ``no_envelope`` ablation trained at the final recipe (2,800 steps, seed 0, no
  ControlNet), a Lightning checkpoint from ``experiments/ablation.py``;
- ``ground-truth audio``: the scene's own audio through the same metrics (for event timing: the onset
  detector against the true step times, its own ceiling).

Columns: event F1 at ±1 and ±2 video frames (33 / 67 ms) and the mean |offset| of matched events against
the true step times (``stereosync.metrics.EventTiming``, the shards' ``events``); E-L1; envelope correlation
(Pearson of the frame RMS of generated and reference audio per clip, averaged); Spatial AV-Align and pan MAE.

    python experiments/ablation.py --rows no_envelope --seeds 0 --steps 2800 --cfg-scale 4 --test-scenes 48 \\
        --fad false --out runs/no_envelope_2800          # the no-envelope model, once
    python experiments/silent_video.py --out runs/silent_video --test-scenes 48
    python experiments/silent_video.py --detector-only --test-scenes 48   # the ground-truth audio row only
    python experiments/silent_video.py --variant "48 steps:--model.sampler.steps=48"   # a lever, as a further row
    python experiments/silent_video.py --skip-no-envelope   # without the ablation run: no no-envelope row
    python experiments/silent_video.py --out runs/silent_video_clap --skip-no-envelope \
        --clap-checkpoint models/630k-audioset-fusion-best.pt \
        --variant "CLAP predictor:--data.envelope_predictor=P.safetensors" \
        --other-clap-variant "CLAP predictor:--data.envelope_predictor=P.safetensors"

``--clap-checkpoint`` writes the test scenes with the CLAP embedding of each chunk's audio (the scenes otherwise
store zeros), which the generator receives and a predictor that reads CLAP (``clap_dim`` > 0) too. An
``--other-clap-variant`` row gives every chunk the CLAP embedding of another held-out scene's chunk with the same
footstep materials instead (``clap_pairs.py``): a silent video voiced with a reference recording of the
material, where the own chunk's embedding also carries that chunk's audio.

``--scene-seed N`` writes other held-out scenes (``data.synthetic.seed``), none of them among the default
ones: a choice made on the default scenes is confirmed there, in a fresh ``--out``.

Finished rows of ``--out`` are reused. Writes ``<out>/table.md`` and ``<out>/results.json``; prints the table
and its wall time.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from clap_pairs import material_set, write_swapped_shards
from runlib import REPO, flatten, last_checkpoint, versions

log = logging.getLogger("silent_video")
SR = 16000
WEIGHTS = "pkg://stereosync/weights/tiny_full_2800.safetensors"
COLUMNS = (
    ("event_f1_33ms", "event F1 ±33 ms ↑", "{:.3f}"),
    ("event_f1_67ms", "event F1 ±67 ms ↑", "{:.3f}"),
    ("event_offset_ms", "mean \\|offset\\| (ms) ↓", "{:.1f}"),
    ("e_l1", "E-L1 ↓", "{:.4f}"),
    ("envelope_corr", "envelope corr ↑", "{:.3f}"),
    ("spatial_av_align", "Spatial AV-Align ↑", "{:.3f}"),
    ("pan_mae", "pan MAE ↓", "{:.3f}"),
)


def common_args(a: argparse.Namespace, root: Path) -> list[str]:
    """The tiny recipe tested on ``--test-scenes`` held-out scenes of ``<out>/data`` (1 train and val scene:
    the test split's seeds do not depend on the other splits)."""
    clap = [f"--data.synthetic.clap_checkpoint={a.clap_checkpoint}"] if a.clap_checkpoint else []
    return [
        "--config",
        str(REPO / "configs" / "tiny.yaml"),
        *clap,
        "--seed_everything=0",
        f"--trainer.default_root_dir={root}",
        "--trainer.enable_progress_bar=false",
        "--model.fad=false",
        f"--data.synthetic.root={a.out / 'data'}",
        "--data.synthetic.train_scenes=1",
        "--data.synthetic.val_scenes=1",
        f"--data.synthetic.test_scenes={a.test_scenes}",
        f"--data.synthetic.seed={a.scene_seed}",
        "--data.num_workers=1",
    ]


def test_row(a: argparse.Namespace, name: str, extra: list[str], weights: str | None, ckpt: Path | None) -> dict:
    """Generate the test scenes with one model; its test metrics plus the envelope correlation of its wavs."""
    from stereosync.cli import cli_main
    from stereosync.models.trainable_weights import load_trainable

    root = a.out / re.sub(r"[^\w.-]+", "_", name)
    done = root / "result.json"
    if done.is_file() and json.loads(done.read_text()).get("test_scenes") == a.test_scenes:
        log.info("%s: reusing %s", name, done)
        return json.loads(done.read_text()) | {"run": str(root)}
    t0 = time.perf_counter()
    cli = cli_main(common_args(a, root) + extra, run=False)
    if weights is not None:
        load_trainable(cli.model, weights)
    values = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=str(ckpt) if ckpt else None)[0]
    out: dict[str, Any] = flatten(values)
    out["envelope_corr"] = envelope_corr(versions(root)[-1] / "test" / "wav")
    out.update(test_scenes=a.test_scenes, seconds=time.perf_counter() - t0)
    done.write_text(json.dumps(out, indent=1))
    return out | {"run": str(root)}


def rms_corr(gen: np.ndarray, ref: np.ndarray) -> float:
    """Pearson correlation of the frame RMS of two (C, T) clips' mono mixes (0 when one is constant)."""
    from stereosync.metrics.functional import frame_rms

    g, r = (frame_rms(torch.from_numpy(x.mean(0))[None]).numpy()[0] for x in (gen, ref))
    n = min(len(g), len(r))
    return float(np.corrcoef(g[:n], r[:n])[0, 1]) if g[:n].std() > 0 and r[:n].std() > 0 else 0.0


def envelope_corr(wav_dir: Path) -> float:
    """Mean over clips of :func:`rms_corr` of ``<key>.wav`` (generated) against ``<key>.ref.wav``."""
    import soundfile

    corr = []
    for ref_path in sorted(wav_dir.glob("*.ref.wav")):
        gen_path = ref_path.with_name(ref_path.name.replace(".ref.wav", ".wav"))
        ref, gen = (soundfile.read(p, dtype="float32", always_2d=True)[0].T for p in (ref_path, gen_path))
        corr.append(rms_corr(gen, ref))
    return float(np.mean(corr))


def ground_truth_row(a: argparse.Namespace) -> dict[str, Any]:
    """The scenes' own audio (peak-normalised, as the test stream feeds it) through the same metrics."""
    from datamodules.shards import expand_shards
    from stereosync.data import pipeline
    from stereosync.data.synthetic import ensure_synthetic_dataset
    from stereosync.metrics import EventTiming, PanTracking, SpatialAVAlign

    t0 = time.perf_counter()
    clap = None
    if a.clap_checkpoint:  # the same embeddings as the model rows' data (else the marker would not match)
        from stereosync.clap import ClapAudioEncoder, ClipEmbedder

        clap = ClipEmbedder(ClapAudioEncoder(a.clap_checkpoint))
    ensure_synthetic_dataset(
        a.out / "data", a.test_scenes, seed=a.scene_seed, split="test", sample_rate=SR, clap_encoder=clap
    )
    timing, spatial, pan = EventTiming(SR), SpatialAVAlign(SR), PanTracking(SR)
    counter = pipeline.SkipCounter(strict=True)
    samples = []
    for raw in pipeline.tar_samples(
        ({"url": u} for u in expand_shards(str(a.out / "data" / "test" / "shards"))), counter
    ):
        samples.append(pipeline.augment(pipeline.decode(raw, counter), 2.0, None, True, False))
    for i in range(0, len(samples), 8):
        batch = pipeline.collate(samples[i : i + 8], {})
        x = batch["audio"]
        timing.update(x, batch["events"], batch["events_mask"], batch["has_events"])
        spatial.update(preds=x, boxes=batch["boxes"], box_mask=batch["box_mask"])
        pan.update(preds=x, boxes=batch["boxes"], box_mask=batch["box_mask"])
    out: dict[str, Any] = {k: float(v) for k, v in timing.compute().items()}
    out.update(librosa_onsets(samples))
    out.update(
        e_l1=0.0,
        envelope_corr=1.0,
        spatial_av_align=float(spatial.compute()),
        pan_mae=float(pan.compute()["pan_mae"]),
        clips=len(samples),
        events=int(timing.n_reference),
        seconds=time.perf_counter() - t0,
    )
    return out


def librosa_onsets(samples: list[dict]) -> dict[str, float]:
    """F1 of ``librosa``'s default onsets (the former onset column's detector) against the true step times."""
    from stereosync.metrics.functional import audio_onsets, onset_matches

    counts = {tol: [0, 0] for tol in (1 / 30, 0.05)}
    for s in samples:
        found, true = audio_onsets(s["audio"], SR), s["events"][:, 0]
        for tol, c in counts.items():
            c[0] += onset_matches(found, true, tol)
            c[1] += len(found) + len(true)
    return {f"librosa_f1_{round(tol * 1000)}ms": 2 * m / n for tol, (m, n) in counts.items()}


def by_characters(a: argparse.Namespace, rows: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Event F1 at ±1 frame and E-L1 of each model row's wavs, split into clips with one and with two characters,
    and the one-character clips by the character's footstep material (``ground-truth audio``: the tested
    references, event F1 only)."""
    import soundfile

    from datamodules.shards import expand_shards
    from stereosync.data import pipeline
    from stereosync.metrics.functional import match_events, step_onsets
    from stereosync.metrics.functional.e_l1 import e_l1_per_clip

    def read(file: Path) -> np.ndarray:
        return soundfile.read(file, dtype="float32", always_2d=True)[0].T

    counter = pipeline.SkipCounter(strict=True)
    truth = {}
    urls = expand_shards(str(a.out / "data" / "test" / "shards"))
    for raw in pipeline.tar_samples(({"url": u} for u in urls), counter):
        s = pipeline.decode(raw, counter)
        present = material_set(s["json"], s["box_mask"])
        truth[s["__key__"]] = (s["events"][:, 0], len(present), present[0] if len(present) == 1 else None)
    runs = {name: versions(Path(row["run"]))[-1] / "test" / "wav" for name, row in rows.items() if "run" in row}
    if runs:  # the ground-truth audio: the references every tested run writes beside its wavs
        runs["ground-truth audio"] = next(iter(runs.values()))
    # the references are the test scenes' own audio, the same beside every run's wavs: read once
    references = {key: read(runs["ground-truth audio"] / f"{key}.ref.wav") for key in truth} if runs else {}
    out = {}
    for name, wav in runs.items():
        acc: dict[object, list[float]] = {}  # per character count and material: matches, detected + true, ΣE-L1, n
        for key, (true, characters, material) in truth.items():
            reference = references[key]
            audio = reference if name == "ground-truth audio" else read(wav / f"{key}.wav")
            found = step_onsets(audio, SR)
            e_l1 = float(e_l1_per_clip(torch.from_numpy(audio)[None], torch.from_numpy(reference)[None], SR)[0])
            counts = (match_events(found, true, 1 / 30).size, len(found) + len(true), e_l1, 1)
            for group in (characters, material):
                if group is not None:
                    acc[group] = [x + y for x, y in zip(acc.get(group, (0, 0, 0.0, 0)), counts)]
        values = {}
        for group, (m, n, e_l1, clips) in acc.items():
            name_of = f"{group}char" if isinstance(group, int) else f"1char_{group}"
            if n:
                values[f"event_f1_33ms_{name_of}"] = 2 * m / n
            values[f"clips_{name_of}"] = clips
            if name != "ground-truth audio":
                values[f"e_l1_{name_of}"] = e_l1 / clips
        out[name] = values
    return out


def split_line(v: dict[str, float]) -> str:
    """One row's event F1 ±33 ms (and E-L1) by character count and, on one-character clips, by material."""
    materials = sorted(k.rsplit("_", 1)[1] for k in v if k.startswith("event_f1_33ms_1char_"))
    e_l1 = "e_l1_1char" in v

    def cell(group: str) -> str:
        f1 = f"{v[f'event_f1_33ms_{group}']:.3f}"
        return f"{f1} / {v[f'e_l1_{group}']:.4f}" if e_l1 else f1

    return (
        f"event F1 ±33 ms{' / E-L1' if e_l1 else ''} {cell('1char')} on clips with one character, "
        f"{cell('2char')} with two; one character by material: "
        + ", ".join(f"{m} ({v[f'clips_1char_{m}']} clips) {cell('1char_' + m)}" for m in materials)
        + "."
    )


def table(rows: dict[str, dict], seconds: float, a: argparse.Namespace) -> str:
    lines = ["| row | " + " | ".join(c[1] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, r in rows.items():
        cells = [fmt.format(r[k]) if k in r else "" for k, _, fmt in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    gt = rows["ground-truth audio"]
    lines += [
        "",
        f"{a.test_scenes} held-out test scenes ({gt['clips']} clips of 2 s, {gt['events']} true footsteps); "
        f"wall time {seconds / 60:.1f} min.",
        "",
        f"librosa's default onsets of the ground-truth audio against the true step times: F1 "
        f"{gt['librosa_f1_33ms']:.3f} at ±33 ms, {gt['librosa_f1_50ms']:.3f} at ±50 ms.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python experiments/silent_video.py", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/silent_video"), help="run folder (rows reused)")
    p.add_argument("--test-scenes", type=int, default=48, help="held-out test scenes (3 clips each)")
    p.add_argument(
        "--scene-seed",
        type=int,
        default=0,
        help="base seed of the scenes (data.synthetic.seed): another seed gives other held-out scenes, to confirm "
        "on fresh scenes a choice made on the default ones (use a fresh --out)",
    )
    p.add_argument("--weights", default=WEIGHTS, help="trainable weights of the full model (.safetensors)")
    p.add_argument(
        "--no-envelope", type=Path, default=Path("runs/no_envelope_2800/no_envelope-seed0"), help="ablation run"
    )
    p.add_argument("--skip-no-envelope", action="store_true", help="leave out the no-envelope row (no ablation run)")
    p.add_argument("--predictor", default=None, help="envelope-predictor file (default: the recipe's)")
    p.add_argument("--detector-only", action="store_true", help="only the ground-truth audio row")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:ARGS",
        help="one more predicted-envelope row with further CLI arguments, e.g. 'cfg 6:--model.sampler.cfg_scale=6'",
    )
    p.add_argument(
        "--true-variant",
        action="append",
        default=[],
        metavar="NAME:ARGS",
        help="the same for the ground-truth-envelope row (a lever's effect on the reference it is compared with)",
    )
    p.add_argument(
        "--other-clap-variant",
        action="append",
        default=[],
        metavar="NAME:ARGS",
        help="a predicted-envelope row whose chunks carry the CLAP of another scene's chunk of the same materials "
        "(needs --clap-checkpoint)",
    )
    p.add_argument(
        "--clap-checkpoint",
        default=None,
        help="LAION-CLAP checkpoint: the test scenes carry each chunk's CLAP embedding (default: zeros)",
    )
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="further CLI arguments for the model rows")
    a = p.parse_args(argv)
    if a.other_clap_variant and not a.clap_checkpoint:
        p.error("--other-clap-variant needs --clap-checkpoint (the scenes' own CLAP embeddings to swap)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    a.out = a.out.resolve()
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows: dict[str, dict] = {}
    if not a.detector_only:
        full = ["--config", str(REPO / "configs" / "ablations" / "full.yaml"), *a.extra]
        predicted = ["--data.envelope_source=predicted"]
        predicted += [f"--data.envelope_predictor={a.predictor}"] if a.predictor else []
        bare = ["--config", str(REPO / "configs" / "ablations" / "no_envelope.yaml"), *a.extra]
        rows["ground-truth envelope"] = test_row(a, "ground-truth envelope", full, a.weights, None)
        rows["**predicted envelope** (video only)"] = test_row(
            a, "predicted envelope", full + predicted, a.weights, None
        )
        for variant in a.variant:  # levers on the predicted-envelope row
            name, _, args = variant.partition(":")
            rows[f"predicted envelope, {name}"] = test_row(
                a, f"predicted envelope, {name}", full + predicted + args.split(), a.weights, None
            )
        if a.other_clap_variant:  # the test scenes exist: the rows above wrote them
            swapped = a.out / "data-other-clap" / "test" / "shards"
            pairs = write_swapped_shards(a.out / "data" / "test" / "shards", swapped)
            log.info(
                "other-chunk CLAP: %d of %d chunks paired with the same materials",
                pairs["same_materials"],
                pairs["chunks"],
            )
            other = ["--data.synthetic=null", f"--data.test_shards={swapped}"]
        for variant in a.other_clap_variant:
            name, _, args = variant.partition(":")
            label = f"predicted envelope, {name}, CLAP of another chunk of the same materials"
            rows[label] = test_row(a, label, full + predicted + args.split() + other, a.weights, None)
            rows[label]["same_materials"] = pairs["same_materials"]
        for variant in a.true_variant:
            name, _, args = variant.partition(":")
            rows[f"ground-truth envelope, {name}"] = test_row(
                a, f"ground-truth envelope, {name}", full + args.split(), a.weights, None
            )
        if not a.skip_no_envelope:
            rows["no envelope (no ControlNet)"] = test_row(a, "no envelope", bare, None, last_checkpoint(a.no_envelope))
    rows["ground-truth audio"] = ground_truth_row(a)
    split = by_characters(a, rows)
    for name, values in split.items():
        rows[name].update(values)
    seconds = time.perf_counter() - t0
    text = table(rows, seconds, a) + "".join(f"\n{name}: {split_line(v)}" for name, v in split.items())
    (a.out / ("detector.md" if a.detector_only else "table.md")).write_text(text + "\n")
    (a.out / "results.json").write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
