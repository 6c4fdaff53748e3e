"""Voicing without a soundtrack, on held-out synthetic scenes: the ground-truth envelope against the predicted one.

Trains (or reuses) the tiny recipe and its ``no_envelope`` ablation on the synthetic training scenes, then
generates every held-out test scene three ways and scores each row against the scene's own audio:

- ``ground-truth envelope``: the ControlNet reads the envelope of the scene's audio (the paper);
- ``predicted envelope``: it reads the envelope predictor's output, from the video alone
  (``--data.envelope_source=predicted``);
- ``no envelope``: the ``no_envelope`` ablation (no ControlNet);
- ``ground-truth audio``: the scene's own audio, through the same metrics.

Columns: E-L1; onset F1 (``librosa`` onsets of generated vs reference audio, ±50 ms); envelope correlation
(Pearson, frame RMS of generated vs reference, per clip, averaged); AV-Align (frames from the scenes' mp4s);
Spatial AV-Align and pan MAE (against the generator's true boxes). Then the predictor alone: envelope E-L1 and
envelope onset F1 (±50 ms) of its output against the reference envelope, and the envelope correlation.

    python experiments/envelope_eval.py --out runs/envelope_eval            # 48 test scenes, 300 training steps

Writes ``<out>/table.md`` and ``<out>/results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from runlib import REPO, run_cli, tiny_args

SR = 16000


def train(a: argparse.Namespace, name: str, extra: list[str]) -> Path:
    root = a.out / name
    ckpt = root / "version_0" / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        run_cli(["fit", *tiny_args(root, a.out / "data", a.test_scenes), f"--trainer.max_steps={a.steps}", *extra])
    return ckpt


def test(a: argparse.Namespace, name: str, ckpt: Path, extra: list[str]) -> Path:
    root = a.out / f"test_{name}"
    out = root / "version_0" / "test"
    if not (out / "metrics.json").is_file():
        run_cli(["test", *tiny_args(root, a.out / "data", a.test_scenes), f"--ckpt_path={ckpt}", *extra])
    return out


def frames_of(video: Path, start: float, seconds: float) -> np.ndarray:
    import av

    with av.open(str(video)) as c:
        imgs = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    i0 = int(round(start * 30))
    return np.stack(imgs[i0 : i0 + int(round(seconds * 30))])


def score_clips(test_dir: Path, a: argparse.Namespace, reference: bool = False) -> dict[str, float]:
    """Onset F1, envelope correlation and AV-Align from the wavs a test run wrote; the run's own metrics beside."""
    import soundfile

    from stereosync.metrics.functional import audio_onsets, av_align, frame_rms, onset_matches

    metrics = json.loads((test_dir / "metrics.json").read_text())["metrics"]
    m = [0, 0, 0]
    corr, align = [], []
    for ref_path in sorted((test_dir / "wav").glob("*.ref.wav")):
        key = ref_path.name[: -len(".ref.wav")]
        ref, _ = soundfile.read(ref_path, dtype="float32", always_2d=True)
        gen = ref if reference else soundfile.read(test_dir / "wav" / f"{key}.wav", dtype="float32", always_2d=True)[0]
        ref, gen = ref.T, gen.T
        ro, go = audio_onsets(ref, SR), audio_onsets(gen, SR)
        m[0] += onset_matches(go, ro)
        m[1] += len(go)
        m[2] += len(ro)
        rr = frame_rms(torch.from_numpy(ref.mean(0))[None]).numpy()[0]
        gr = frame_rms(torch.from_numpy(gen.mean(0))[None]).numpy()[0]
        n = min(len(rr), len(gr))
        corr.append(float(np.corrcoef(rr[:n], gr[:n])[0, 1]) if rr[:n].std() > 0 and gr[:n].std() > 0 else 0.0)
        scene, chunk = key.rsplit("_", 1)
        video = a.out / "data" / "test" / "videos" / f"{scene}.mp4"
        value = av_align(gen, SR, frames_of(video, int(chunk) * 2.0, 2.0), 30.0)
        if np.isfinite(value):
            align.append(value)
    out = {
        "e_l1": 0.0 if reference else float(metrics["test/e_l1"]),
        "onset_f1": 2 * m[0] / (m[1] + m[2]) if m[1] + m[2] else 1.0,
        "envelope_corr": float(np.mean(corr)),
        "av_align": float(np.mean(align)),
        "clips": len(corr),
    }
    if reference:
        out.update(spatial_av_align=float("nan"), pan_mae=float("nan"))
    else:
        out.update(spatial_av_align=float(metrics["test/spatial_av_align"]), pan_mae=float(metrics["test/pan_mae"]))
    return out


def reference_spatial(test_dir: Path) -> dict[str, float]:
    """Spatial AV-Align and pan MAE of the scenes' own audio, from the test run's reference wavs."""
    import soundfile

    from datamodules.shards import expand_shards
    from stereosync.data import pipeline
    from stereosync.metrics.pan_tracking import PanTracking
    from stereosync.metrics.spatial_av_align import SpatialAVAlign

    spatial, pan = SpatialAVAlign(SR), PanTracking(SR)
    counter = pipeline.SkipCounter(strict=True)
    urls = expand_shards(str(test_dir.parents[2] / "data" / "test" / "shards"))
    for raw in pipeline.tar_samples(({"url": u} for u in urls), counter):
        s = pipeline.decode(raw, counter)
        ref, _ = soundfile.read(test_dir / "wav" / f"{s['__key__']}.ref.wav", dtype="float32", always_2d=True)
        x = torch.from_numpy(ref.T.copy())[None]
        boxes, mask = torch.from_numpy(s["boxes"])[None], torch.from_numpy(s["box_mask"])[None]
        spatial.update(preds=x, boxes=boxes, box_mask=mask)
        pan.update(preds=x, boxes=boxes, box_mask=mask)
    return {"spatial_av_align": float(spatial.compute()), "pan_mae": float(pan.compute()["pan_mae"])}


def predictor_alone(a: argparse.Namespace) -> dict[str, float]:
    """The predictor's envelope against the reference envelope, on the test shards."""
    from datamodules.shards import expand_shards
    from stereosync.data import pipeline
    from stereosync.metrics.functional import envelope_onsets, onset_matches
    from stereosync.models.envelope_predictor import EnvelopePredictor

    model = EnvelopePredictor.from_pretrained(a.predictor)
    counter = pipeline.SkipCounter(strict=True)
    urls = expand_shards(str(a.out / "data" / "test" / "shards"))
    e_l1, corr, m = [], [], [0, 0, 0]
    for raw in pipeline.tar_samples(({"url": u} for u in urls), counter):
        s = pipeline.augment(pipeline.decode(raw, counter), 2.0, None, True, False)
        t = {k: torch.from_numpy(s[k])[None] for k in ("motion", "boxes", "box_mask")}
        clap = torch.from_numpy(s["clap"])[None].float() if model.clap_dim else None  # a CLAP-reading predictor
        pred = model.predict(t["motion"], t["boxes"], t["box_mask"], s["audio"].shape[-1], clap)[0, 0].numpy()
        ref = s["envelope"].mean(0)
        e_l1.append(float(np.abs(pred - ref).mean()))
        corr.append(float(np.corrcoef(pred, ref)[0, 1]) if pred.std() > 0 else 0.0)
        po, ro = envelope_onsets(pred, SR), envelope_onsets(ref, SR)
        m[0] += onset_matches(po, ro)
        m[1] += len(po)
        m[2] += len(ro)
    return {
        "envelope_e_l1": float(np.mean(e_l1)),
        "envelope_onset_f1": 2 * m[0] / (m[1] + m[2]),
        "envelope_corr": float(np.mean(corr)),
        "clips": len(e_l1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python experiments/envelope_eval.py", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/envelope_eval"), help="run folder (reused when present)")
    p.add_argument("--test-scenes", type=int, default=48, help="held-out test scenes (3 clips each)")
    p.add_argument("--steps", type=int, default=300, help="training steps of both StereoSync runs")
    p.add_argument(
        "--predictor",
        default="pkg://stereosync/weights/tiny_envelope_predictor.safetensors",
        help="envelope-predictor file",
    )
    a = p.parse_args(argv)
    a.out = a.out.resolve()
    t0 = time.perf_counter()
    full = train(a, "full", [])
    no_envelope = ["--config", str(REPO / "configs" / "ablations" / "no_envelope.yaml")]
    bare = train(a, "no_envelope", no_envelope)
    predicted = ["--data.envelope_source=predicted", f"--data.envelope_predictor={a.predictor}"]
    rows = {
        "ground-truth envelope": score_clips(test(a, "full", full, []), a),
        "predicted envelope": score_clips(test(a, "full_predicted", full, predicted), a),
        "no envelope (no ControlNet)": score_clips(test(a, "no_envelope", bare, no_envelope), a),
    }
    gt_dir = a.out / "test_full" / "version_0" / "test"
    rows["ground-truth audio"] = score_clips(gt_dir, a, reference=True) | reference_spatial(gt_dir)
    alone = predictor_alone(a)
    seconds = time.perf_counter() - t0
    cols = ("e_l1", "onset_f1", "envelope_corr", "av_align", "spatial_av_align", "pan_mae")
    lines = [
        "| row | E-L1 ↓ | onset F1 ↑ | envelope corr ↑ | AV-Align ↑ | Spatial AV-Align ↑ | pan MAE ↓ |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {name} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + " |" for name, r in rows.items()]
    lines += [
        "",
        f"Predictor alone ({alone['clips']} clips): envelope E-L1 {alone['envelope_e_l1']:.4f}, envelope onset F1 "
        f"{alone['envelope_onset_f1']:.3f}, envelope correlation {alone['envelope_corr']:.3f}.",
        "",
        f"{a.test_scenes} test scenes, {a.steps} training steps, wall time {seconds / 60:.1f} min.",
    ]
    (a.out / "table.md").write_text("\n".join(lines) + "\n")
    (a.out / "results.json").write_text(json.dumps({"rows": rows, "predictor": alone, "seconds": seconds}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
