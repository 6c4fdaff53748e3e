"""From pixels to stereo on held-out synthetic scenes: the tiny vision models' boxes and depth against the truth.

Trains (or reuses) the tiny recipe on the synthetic training scenes, then generates every held-out test clip
with the same checkpoint and the predicted envelope (``--data.envelope_source=predicted``: the envelope
predictor reads motion and boxes, so nothing comes from the soundtrack), conditioned two ways:

- ``true boxes + depth (shards)``: the generator's boxes and depth maps, as stored in the test shards;
- ``from pixels (tiny vision)``: the boxes (ByteTrack on the tiny detector, K = 2), depth maps (tiny depth
  model) and motion features that ``stereosync-extract --preset tiny`` extracts from each scene's mp4 frames
  (the extraction's own decoder and featurizer, ``ModelConfig(preset="tiny")``), swapped into copies of the
  test shards. The rest of each sample (CLAP, the reference audio) stays as it is, so the rows differ only in
  what comes from the frames; nothing of the mp4's soundtrack is used.

``--presets`` adds a from-pixels row per vision preset (``auto``, ``people``: docs/vision_presets.md) and
``--depth-variants boxes room`` rows with the true boxes and depth maps drawn from them
(:class:`stereosync.extract.box_depth.BoxDepth`: what the ``people`` preset writes) or the empty room alone,
which measures how the checkpoint tolerates the depth maps available without a depth model.

Every row is scored against the generator's **true** boxes: Spatial AV-Align and pan MAE of the generated
wavs, beside the scenes' own audio (``ground-truth audio``) and its mono mix on both channels
(``always centre``).

    python experiments/tiny_vision_e2e.py --out runs/tiny_vision_e2e     # 24 test scenes, 300 training steps

Writes ``<out>/table.md`` and ``<out>/results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from runlib import run_cli, tiny_args

SR = 16000
VISUAL = ("boxes", "box_mask", "depth", "motion")  # the members a video's frames give


def test_run(a: argparse.Namespace, name: str, ckpt: Path, extra: list[str]) -> Path:
    root = a.out / f"test_{name}"
    out = root / "version_0" / "test"
    if not (out / "metrics.json").is_file():
        run_cli(
            [
                "test",
                *tiny_args(root, a.out / "data", a.test_scenes),
                f"--ckpt_path={ckpt}",
                "--data.envelope_source=predicted",
                *extra,
            ]
        )
    return out


def read_samples(shards: Path) -> list[dict]:
    from datamodules.shards import expand_shards
    from stereosync.data import pipeline

    counter = pipeline.SkipCounter(strict=True)
    raws = pipeline.tar_samples(({"url": u} for u in expand_shards(str(shards))), counter)
    return [pipeline.decode(raw, counter) for raw in raws]


def pixel_shards(a: argparse.Namespace, samples: list[dict], preset: str = "tiny") -> Path:
    """Copies of the test shards whose visual members come from ``preset``'s extraction of the mp4s."""
    from stereosync.data.shards import ShardWriter
    from stereosync.extract.decode import DecodeConfig, DecodeReport, iter_chunks
    from stereosync.extract.factory import ModelConfig, build_featurizer

    out = a.out / ("pixels" if preset == "tiny" else f"pixels_{preset}") / "shards"
    if (out / "done.json").is_file():
        return out
    featurizer, _ = build_featurizer(ModelConfig(preset=preset, device="cpu", precision="float32"))
    by_key = {s["__key__"]: s for s in samples}
    scenes = sorted({k.rsplit("_", 1)[0] for k in by_key})
    with ShardWriter(out, prefix="test", max_count=32) as writer:
        for scene in scenes:
            video = a.out / "data" / "test" / "videos" / f"{scene}.mp4"
            featurizer.reset()
            chunks = list(iter_chunks(video, DecodeConfig(sample_rate=SR), DecodeReport()))
            members = featurizer(chunks, [True] * len(chunks), SR)
            for chunk, m in zip(chunks, members):
                key = f"{scene}_{chunk.index:03d}"
                if key not in by_key:
                    continue
                sample = {k: v for k, v in by_key[key].items() if k != "__url__"}
                sample.update({k: m[k] for k in VISUAL})
                writer.write(sample)
    (out / "done.json").write_text(json.dumps({"scenes": len(scenes)}))
    return out


def depth_shards(a: argparse.Namespace, samples: list[dict], mode: str) -> Path:
    """Copies of the test shards with the true boxes and depth maps drawn from them (``boxes``) or the room only."""
    from stereosync.data.shards import ShardWriter
    from stereosync.extract.box_depth import BoxDepth

    out = a.out / f"depth_{mode}" / "shards"
    if (out / "done.json").is_file():
        return out
    with ShardWriter(out, prefix="test", max_count=32) as writer:
        for s in samples:
            sample = {k: v for k, v in s.items() if k != "__url__"}
            depth = BoxDepth(tuple(s["depth"].shape[1:]), mode)
            sample["depth"] = depth.from_boxes(s["boxes"], s["box_mask"], len(s["depth"]))
            writer.write(sample)
    (out / "done.json").write_text(json.dumps({"clips": len(samples)}))
    return out


def score(wav_dir: Path, samples: list[dict], kind: str) -> dict[str, float]:
    """Spatial AV-Align and pan MAE of a row's wavs against the true boxes of the test shards."""
    import soundfile

    from stereosync.metrics.pan_tracking import PanTracking
    from stereosync.metrics.spatial_av_align import SpatialAVAlign

    spatial, pan = SpatialAVAlign(SR), PanTracking(SR)
    for s in samples:
        ref, _ = soundfile.read(wav_dir / f"{s['__key__']}.ref.wav", dtype="float32", always_2d=True)
        if kind == "generated":
            x, _ = soundfile.read(wav_dir / f"{s['__key__']}.wav", dtype="float32", always_2d=True)
        elif kind == "reference":
            x = ref
        else:  # always centre: the reference's mono mix on both channels
            x = np.repeat(ref.mean(axis=1, keepdims=True), 2, axis=1)
        preds = torch.from_numpy(x.T.copy())[None]
        boxes, mask = torch.from_numpy(s["boxes"])[None], torch.from_numpy(s["box_mask"])[None]
        spatial.update(preds=preds, boxes=boxes, box_mask=mask)
        pan.update(preds=preds, boxes=boxes, box_mask=mask)
    return {
        "spatial_av_align": float(spatial.compute()),
        "pan_mae": float(pan.compute()["pan_mae"]),
        "clips": len(samples),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python experiments/tiny_vision_e2e.py", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/tiny_vision_e2e"), help="run folder (reused when present)")
    p.add_argument("--test-scenes", type=int, default=24, help="held-out test scenes (3 clips each)")
    p.add_argument("--steps", type=int, default=300, help="training steps of the tiny recipe")
    p.add_argument("--ckpt", type=Path, default=None, help="use this tiny-recipe checkpoint instead of training")
    p.add_argument("--presets", nargs="+", default=["tiny"], help="vision presets for the from-pixels rows")
    p.add_argument(
        "--depth-variants", nargs="*", default=[], help="true boxes with depth maps drawn from them: boxes, room"
    )
    a = p.parse_args(argv)
    a.out = a.out.resolve()
    t0 = time.perf_counter()
    ckpt = a.ckpt or a.out / "fit" / "version_0" / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        run_cli(["fit", *tiny_args(a.out / "fit", a.out / "data", a.test_scenes), f"--trainer.max_steps={a.steps}"])
    truth_dir = test_run(a, "true_boxes", ckpt, [])
    samples = read_samples(a.out / "data" / "test" / "shards")
    rows = {"true boxes + depth (shards)": score(truth_dir / "wav", samples, "generated")}
    for preset in a.presets:
        shards = pixel_shards(a, samples, preset)
        name = "pixels" if preset == "tiny" else f"pixels_{preset}"
        label = "from pixels (tiny vision)" if preset == "tiny" else f"from pixels ({preset} preset)"
        rows[label] = score(test_run(a, name, ckpt, [f"--data.test_shards={shards}"]) / "wav", samples, "generated")
    for mode in a.depth_variants:
        run = test_run(a, f"depth_{mode}", ckpt, [f"--data.test_shards={depth_shards(a, samples, mode)}"])
        rows[f"true boxes + {mode} depth"] = score(run / "wav", samples, "generated")
    rows["ground-truth audio"] = score(truth_dir / "wav", samples, "reference")
    rows["always centre"] = score(truth_dir / "wav", samples, "centre")
    truth = rows["true boxes + depth (shards)"]
    ratios = {n: r["spatial_av_align"] / truth["spatial_av_align"] for n, r in rows.items() if "pixels" in n}
    seconds = time.perf_counter() - t0
    lines = ["| row | Spatial AV-Align ↑ | pan MAE ↓ |", "|---|---|---|"]
    lines += [f"| {n} | {r['spatial_av_align']:.3f} | {r['pan_mae']:.3f} |" for n, r in rows.items()]
    lines += [
        "",
        "From pixels / true boxes (Spatial AV-Align): "
        + ", ".join(f"{n}: {r:.3f}" for n, r in ratios.items())
        + f". {a.test_scenes} held-out test scenes "
        f"({rows['always centre']['clips']} clips), predicted envelope in every generated row, "
        f"checkpoint {ckpt}; wall time {seconds / 60:.1f} min.",
    ]
    (a.out / "table.md").write_text("\n".join(lines) + "\n")
    (a.out / "results.json").write_text(json.dumps({"rows": rows, "ratios": ratios, "seconds": seconds}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
