"""Where the predicted envelope's error comes from: level (per clip, per step), missing or extra steps, shape.

Scores an envelope-predictor file against the envelope of each held-out test chunk's own audio (peak-normalised,
mono, as the predictor is trained) and splits its E-L1 (mean |predicted − reference|, linear amplitude, at audio
rate) into what each correction removes:

- ``raw``: the predictor's envelope as the ControlNet reads it;
- ``clip gain``: each clip scaled by its L1-best gain (the weighted median of reference / predicted) — what is
  left after fixing a per-clip level error;
- ``step gain``: each stretch between the midpoints of consecutive true footsteps scaled by its own L1-best
  gain — what is left after fixing every step's level: shape and timing; ``step_gain_shift_33ms`` also shifts
  each stretch by the best of ±2 steps of 1/60 s (timing within one video frame);
- ``median decode`` (``mulaw`` files): the median of the predicted class distribution instead of its mean.

It also counts the envelope onsets (found, true, matched within ±50 ms) and relates each true step's level to
what the picture shows: the peak of the reference envelope within 0.25 s after a step of a clip with one
character, against the box height at the step (the scenes' distance gain is proportional to it).

``--wavs DIR`` does the level split for generated audio: the test wavs of a ``silent_video.py`` row
(``<key>.wav`` against ``<key>.ref.wav``), E-L1 as the metric computes it (frame RMS, mono, 44.1 kHz) raw and with
each clip's L1-best gain, and the correlation of each clip's log gain with that of the predictor's envelope (how
far the generated level follows the envelope's level error).

``global_gain`` is the one factor on every clip that minimises the E-L1 of the split; ``--calibrate-out``
writes the predictor with its gain multiplied by it (choose it on the validation split).

A predictor that reads CLAP (``clap_dim`` > 0) gets each chunk's ``clap`` member (scenes written with
``data.synthetic.clap_checkpoint``), or with ``--other-clap`` that of another scene's chunk with the same footstep
materials (``clap_pairs.py``). ::

    python experiments/envelope_level.py --data data/synthetic-16k-envelope \\
        --predictor pkg://stereosync/weights/tiny_envelope_predictor.safetensors
    python experiments/envelope_level.py --split val --calibrate-out calibrated.safetensors
    python experiments/envelope_level.py --data data/synthetic-16k-envelope-clap --predictor P.safetensors --other-clap
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from clap_pairs import material_set, same_material_pairs

SR = 16000


def l1_gain(pred: np.ndarray, ref: np.ndarray) -> float:
    """argmin_g Σ|g·pred − ref|: the median of ref / pred weighted by pred (1 when pred is all zero)."""
    keep = pred > 1e-9
    if not keep.any():
        return 1.0
    ratio, w = ref[keep] / pred[keep], pred[keep]
    order = np.argsort(ratio)
    cum = np.cumsum(w[order])
    return float(ratio[order][np.searchsorted(cum, 0.5 * cum[-1])])


def step_gain_error(pred: np.ndarray, ref: np.ndarray, events: np.ndarray, max_shift: int = 0) -> float:
    """Mean |pred − ref| after scaling each stretch between midpoints of consecutive true steps by its L1 gain
    (and shifting the prediction there by the best of ±``max_shift`` steps of 1/60 s)."""
    times = np.sort(events)
    cuts = [0] + [int(round(0.5 * (a + b) * SR)) for a, b in zip(times[:-1], times[1:])] + [len(ref)]
    shifted = [np.roll(pred, k * SR // 60) for k in range(-max_shift, max_shift + 1)]
    err = 0.0
    for a, b in zip(cuts[:-1], cuts[1:]):
        if b > a:
            err += min(float(np.abs(l1_gain(p[a:b], ref[a:b]) * p[a:b] - ref[a:b]).sum()) for p in shifted)
    return err / len(ref)


def median_decode(model, raw: torch.Tensor) -> torch.Tensor:
    """Median of the μ-law class distribution (linear inside the median's class), expanded: (B, N)."""
    from stereosync.models.envelope_predictor import inverse_mulaw

    p = raw.float().softmax(-1)
    cdf = p.cumsum(-1)
    idx = (cdf < 0.5).sum(-1, keepdim=True).clamp(max=model.bins - 1)
    below = torch.where(idx > 0, cdf.gather(-1, (idx - 1).clamp(min=0)), torch.zeros_like(idx, dtype=p.dtype))
    frac = ((0.5 - below) / p.gather(-1, idx).clamp(min=1e-9)).clamp(0, 1)
    return inverse_mulaw(((idx.float() + frac) / model.bins).squeeze(-1), model.mu)


def wav_levels(wav_dir: Path) -> dict[str, tuple[float, float, float]]:
    """Per clip of a test wav folder: (E-L1, E-L1 with the clip's L1-best gain, log of that gain)."""
    import soundfile

    from stereosync.metrics.functional.e_l1 import frame_rms, match_length, to_mono_44k

    out = {}
    for ref_path in sorted(wav_dir.glob("*.ref.wav")):
        key = ref_path.name[: -len(".ref.wav")]
        ref, gen = (
            torch.from_numpy(soundfile.read(p, dtype="float32", always_2d=True)[0].T)[None]
            for p in (ref_path, wav_dir / f"{key}.wav")
        )
        r = frame_rms(to_mono_44k(ref, SR))[0].numpy()
        g = frame_rms(match_length(to_mono_44k(gen, SR), to_mono_44k(ref, SR).shape[-1]))[0].numpy()
        gain = l1_gain(g, r)
        out[key] = (float(np.abs(g - r).mean()), float(np.abs(gain * g - r).mean()), float(np.log(gain)))
    if not out:
        raise FileNotFoundError(f"{wav_dir}: no <key>.ref.wav test outputs")
    return out


def load_chunks(root: Path, split: str = "test") -> list[dict]:
    from datamodules.shards import expand_shards
    from stereosync.data import pipeline

    counter = pipeline.SkipCounter(strict=True)
    urls = expand_shards(str(root / split / "shards"))
    if not urls:
        raise FileNotFoundError(f"{root / split / 'shards'}: no shards (write the synthetic scenes first)")
    return [
        pipeline.augment(pipeline.decode(raw, counter), 2.0, None, True, False)
        for raw in pipeline.tar_samples(({"url": u} for u in urls), counter)
    ]


def main(argv: list[str] | None = None) -> int:
    from stereosync.metrics.functional import envelope_onsets, onset_matches
    from stereosync.models.envelope_predictor import EnvelopePredictor, file_info

    p = argparse.ArgumentParser(prog="python experiments/envelope_level.py", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path("data/synthetic-16k-envelope"), help="synthetic root (test split)")
    p.add_argument("--predictor", default="pkg://stereosync/weights/tiny_envelope_predictor.safetensors")
    p.add_argument("--wavs", type=Path, action="append", default=[], help="test wav folder of a generated row")
    p.add_argument("--split", default="test", help="split of --data to score (test, val)")
    p.add_argument("--out", type=Path, default=None, help="write the figures as json here")
    p.add_argument("--calibrate-out", type=Path, default=None, help="write the predictor times global_gain here")
    p.add_argument(
        "--other-clap",
        action="store_true",
        help="a CLAP-reading predictor gets another scene's chunk's CLAP, of the same materials",
    )
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model = EnvelopePredictor.from_pretrained(a.predictor)
    chunks = load_chunks(a.data, a.split)
    claps = {s["__key__"]: s["clap"] for s in chunks}
    if model.clap_dim and any(s["json"].get("clap") == "none" for s in chunks):
        raise ValueError(f"{a.predictor} reads CLAP but {a.data} stores none: write it with a CLAP checkpoint")
    partner = {s["__key__"]: (s["__key__"], True) for s in chunks}
    if a.other_clap:
        partner = same_material_pairs(
            [(s["__key__"], s["json"]["source"], material_set(s["json"], s["box_mask"])) for s in chunks]
        )
    preds, refs, clip_log_gain, materials = [], [], {}, []
    acc: dict[str, dict[str, list[float]]] = {"all": {}, "1char": {}, "2char": {}}
    onsets = {k: [0, 0, 0] for k in acc}  # matched, found, true
    levels: list[tuple[float, float]] = []  # one-character clips: (box height at the step, reference peak)
    for s in chunks:
        motion, boxes, mask = (torch.from_numpy(np.asarray(s[k]))[None] for k in ("motion", "boxes", "box_mask"))
        ref = s["envelope"].mean(0).astype(np.float64)
        clap = torch.from_numpy(np.asarray(claps[partner[s["__key__"]][0]]))[None].float() if model.clap_dim else None
        with torch.no_grad():
            raw = model(motion, boxes, mask, clap)
            pred = model.to_audio_rate(model.decode(raw), len(ref))[0, 0].double().numpy()
            med = (
                model.to_audio_rate(median_decode(model, raw), len(ref))[0, 0].double().numpy()
                if model.output == "mulaw"
                else pred
            )
        preds.append(pred)
        refs.append(ref)
        events = np.asarray(s["events"])[:, 0] if len(s["events"]) else np.zeros(0)
        chars = int(np.asarray(s["box_mask"]).any(0).sum())
        present = np.flatnonzero(np.asarray(s["box_mask"]).any(0))
        materials.append(tuple(sorted(s["json"]["materials"][k] for k in present if k < len(s["json"]["materials"]))))
        g = l1_gain(pred, ref)
        clip_log_gain[s["__key__"]] = float(np.log(g))
        row = {
            "raw": float(np.abs(pred - ref).mean()),
            "clip_gain": float(np.abs(g * pred - ref).mean()),
            "step_gain": step_gain_error(pred, ref, events) if len(events) else float(np.abs(g * pred - ref).mean()),
            "step_gain_shift_33ms": step_gain_error(pred, ref, events, 2)
            if len(events)
            else float(np.abs(g * pred - ref).mean()),
            "median_decode": float(np.abs(med - ref).mean()),
            "log_gain": float(np.log(g)),
            "bias": float((pred - ref).mean()),
            "ref_mean": float(ref.mean()),
            "pred_peak_over_ref_peak": float(pred.max() / max(ref.max(), 1e-9)),
        }
        found, true = envelope_onsets(pred, SR), envelope_onsets(ref, SR)
        for key in ("all", f"{chars}char"):
            for k, v in row.items():
                acc[key].setdefault(k, []).append(v)
            onsets[key][0] += onset_matches(found, true)
            onsets[key][1] += len(found)
            onsets[key][2] += len(true)
        if chars == 1 and len(events):
            k = int(np.asarray(s["box_mask"]).any(0).argmax())
            for t in events:
                f = min(int(t * 30), len(s["boxes"]) - 1)
                i0, i1 = int(t * SR), min(int((t + 0.25) * SR), len(ref))
                if i1 > i0:
                    box = np.asarray(s["boxes"])[f, k]
                    levels.append((float(box[3] - box[1]), float(ref[i0:i1].max())))
    out: dict = {"predictor": str(a.predictor), "split": a.split, "clips": len(chunks)}
    if a.other_clap:
        out["other_clap_same_materials"] = sum(exact for _, exact in partner.values())
    out["global_gain"] = l1_gain(np.concatenate(preds), np.concatenate(refs))
    out["global_gain_e_l1"] = float(np.mean([np.abs(out["global_gain"] * x - y).mean() for x, y in zip(preds, refs)]))
    for key, rows in acc.items():
        if not rows:
            continue
        m, f, t = onsets[key]
        out[key] = {k: float(np.mean(v)) for k, v in rows.items()}
        out[key]["abs_log_gain"] = float(np.mean(np.abs(rows["log_gain"])))
        out[key].update(clips=len(rows["raw"]), onsets_found=f, onsets_true=t, onsets_matched=m)
    if levels:
        h, peak = (np.log(np.array(v)) for v in zip(*levels))
        slope, icpt = np.polyfit(h, peak, 1)
        resid = peak - (slope * h + icpt)
        out["level_vs_box_height"] = {
            "steps": len(levels),
            "slope": float(slope),
            "r2": float(1 - resid.var() / peak.var()),
            "log_peak_std": float(peak.std()),
            "residual_log_std": float(resid.std()),
        }
    # a gain per material set of the clip (the median clip gain of its material set): the level error that
    # knowing the material would remove (fitted on the scored clips themselves: an optimistic bound)
    by_material: dict[tuple, list[int]] = {}
    for i, m in enumerate(materials):
        by_material.setdefault(m, []).append(i)
    err = 0.0
    for idx in by_material.values():
        g = float(np.exp(np.median([np.log(l1_gain(preds[i], refs[i])) for i in idx])))
        err += sum(float(np.abs(g * preds[i] - refs[i]).mean()) for i in idx)
    out["material_gain_e_l1"] = err / len(preds)
    for wav_dir in a.wavs:
        rows = wav_levels(wav_dir)
        keys = [k for k in rows if k in clip_log_gain]
        gen_gain, env_gain = (np.array(v) for v in zip(*[(rows[k][2], clip_log_gain[k]) for k in keys]))
        out[f"wavs:{wav_dir}"] = {
            "e_l1": float(np.mean([v[0] for v in rows.values()])),
            "clip_gain": float(np.mean([v[1] for v in rows.values()])),
            "abs_log_gain": float(np.mean(np.abs([v[2] for v in rows.values()]))),
            "log_gain_corr_with_envelope": float(np.corrcoef(gen_gain, env_gain)[0, 1]),
            "clips": len(rows),
        }
    if a.calibrate_out:
        calibrated = EnvelopePredictor(**{**model.config, "gain": model.gain * out["global_gain"]})
        calibrated.load_state_dict(model.state_dict())
        calibrated.save_pretrained(a.calibrate_out, sample_rate=file_info(a.predictor)[1])  # keep the file's rate
        out["calibrated"] = {"file": str(a.calibrate_out), "gain": calibrated.gain}
    out["seconds"] = time.perf_counter() - t0
    text = json.dumps(out, indent=1)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
