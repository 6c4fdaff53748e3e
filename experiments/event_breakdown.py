"""Where a tested run wins and loses Spatial AV-Align.

Reads what ``train.py test`` wrote (``<run>/version_*/test/wav/<key>.wav`` and ``<key>.ref.wav``) and the boxes of
the test shards, localises every 0.1-s frame of the generated and the reference audio with the metric's own
localiser, and splits the generated events (and their hit rate) by

- whether the *reference* is active in that frame: a generator with a noise floor turns frames the reference
  leaves quiet into events, each scored by the pan of that noise;
- one- or two-character clips (two characters: a step placed on either box is a hit);

prints the level of generated and reference frames below each clip's loudest frame, and splits the *placement*
error of the generated and reference events (the estimated position against the nearest present box centre, in
frame widths, as pan MAE) by frames with one or two boxes present: its mean, the regression slope of the event's
offset from the centre on the box's (< 1: pulled towards the centre, > 1: pushed out), the share of events more
than 0.1 off, and the correlation of the signed error of consecutive event frames of one character (near 1: a
whole step sits off the box, rather than frames scattering around it).

    python experiments/event_breakdown.py runs/ablations/full-seed0
    python experiments/event_breakdown.py runs/ablations/full-seed0 --shards data/bench-16k/test/shards
"""

from __future__ import annotations

import argparse
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch


def read_boxes(shard_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    """``{key: {"boxes": (FB, K, 4), "box_mask": (FB, K)}}`` of every sample in the shards of a folder."""
    from stereosync.data.schema import decode_member

    out: dict[str, dict[str, np.ndarray]] = {}
    for shard in sorted(shard_dir.glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, _, ext = member.name.partition(".")
                if ext in ("boxes.npy", "box_mask.npy"):
                    name, value = decode_member(ext, tar.extractfile(member).read(), shard=str(shard), key=key)
                    out.setdefault(key, {})[name] = value
    return out


def frame_levels(audio: torch.Tensor, sample_rate: int, hop_s: float) -> torch.Tensor:
    """(J,) power of each frame in dB below the clip's loudest frame."""
    from stereosync.metrics.functional.localiser import frame_energies

    db = 10 * torch.log10(frame_energies(audio, sample_rate, hop_s).mean(0).clamp(min=1e-30))
    return db - db.max()


def placement(events, boxes: torch.Tensor, box_mask: torch.Tensor) -> list[tuple[float, float, int, int]]:
    """(estimated position, nearest present box centre, boxes present, frame index) of every active event frame
    of a clip that has a box (``spatial_events`` output; the first event per frame, as the localiser gives)."""
    from stereosync.metrics.functional.pan_tracking import box_centres
    from stereosync.metrics.functional.spatial_av_align import HOP_S

    centres, present = box_centres(events.positions.shape[0], boxes.double(), box_mask, 30.0, HOP_S)
    out = []
    for j in range(events.positions.shape[0]):
        if not bool(events.active[j, 0]) or not bool(present[j].any()):
            continue
        pos = float(events.positions[j, 0])
        here = centres[j][present[j]]
        out.append((pos, float(here[(here - pos).abs().argmin()]), int(present[j].sum()), j))
    return out


def placement_summary(rows: list[tuple[float, float, int, int]]) -> str:
    """MAE, slope about the centre, share > 0.1 off; one line."""
    if not rows:
        return "no events"
    pos, centre = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    err, x = pos - centre, centre - 0.5
    slope = float(((pos - 0.5) * x).sum() / max(float((x * x).sum()), 1e-12))
    off = (np.abs(err) > 0.1).mean()
    return f"events {len(rows):5d}  MAE {np.abs(err).mean():.3f}  slope {slope:.2f}  > 0.1 off {off:.2f}"


def consecutive_error_corr(clips: list[list[tuple[float, float, int, int]]]) -> float:
    """Correlation of the signed placement error of consecutive one-box event frames (j, j + 1) of each clip."""
    pairs = []
    for rows in clips:
        by_frame = {r[3]: r[0] - r[1] for r in rows if r[2] == 1}
        pairs += [(e, by_frame[j + 1]) for j, e in by_frame.items() if j + 1 in by_frame]
    if len(pairs) < 3:
        return float("nan")
    a = np.array(pairs)
    return float(np.corrcoef(a[:, 0], a[:, 1])[0, 1])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a tested run folder (holds version_*/test/wav)")
    p.add_argument("--shards", default="data/bench-16k/test/shards", help="the test shards the run was tested on")
    args = p.parse_args(argv)

    import soundfile

    from stereosync.metrics.functional.spatial_av_align import HOP_S, spatial_events

    wavs = sorted(Path(args.run).glob("version_*/test/wav/*.ref.wav"))
    if not wavs:
        raise SystemExit(f"no reference wavs under {args.run}/version_*/test/wav (run train.py test first)")
    boxes = read_boxes(Path(args.shards))
    counts = {k: [0, 0] for k in ("reference active", "reference quiet", "one character", "two characters")}
    counts["reference events"] = [0, 0]
    levels: dict[str, list[torch.Tensor]] = {"generated": [], "reference": []}
    placed: dict[str, list[list[tuple[float, float, int, int]]]] = {"generated": [], "reference": []}
    for ref_path in wavs:
        key = ref_path.name.removesuffix(".ref.wav")
        if key not in boxes:
            raise SystemExit(f"{ref_path}: sample key {key!r} is not in the shards of {args.shards}")
        ref, sr = soundfile.read(ref_path, dtype="float32", always_2d=True)
        gen, _ = soundfile.read(ref_path.with_name(f"{key}.wav"), dtype="float32", always_2d=True)
        b, m = torch.from_numpy(boxes[key]["boxes"]), torch.from_numpy(boxes[key]["box_mask"])
        ev_gen = spatial_events(torch.from_numpy(gen.T), sr, b, m)
        ev_ref = spatial_events(torch.from_numpy(ref.T), sr, b, m)
        active, hit, ref_active = ev_gen.active[:, 0], ev_gen.hit[:, 0], ev_ref.active[:, 0]
        n = min(len(active), len(ref_active))
        active, hit, ref_active = active[:n], hit[:n], ref_active[:n]
        for name, sel in (("reference active", ref_active), ("reference quiet", ~ref_active)):
            counts[name][0] += int((hit & sel).sum())
            counts[name][1] += int((active & sel).sum())
        chars = "two characters" if int(m.any(0).sum()) > 1 else "one character"
        counts[chars][0] += int(hit.sum())
        counts[chars][1] += int(active.sum())
        counts["reference events"][0] += int(ev_ref.hit.sum())
        counts["reference events"][1] += int(ev_ref.active.sum())
        placed["generated"].append(placement(ev_gen, b, m))
        placed["reference"].append(placement(ev_ref, b, m))
        levels["generated"].append(frame_levels(torch.from_numpy(gen.T), sr, HOP_S))
        levels["reference"].append(frame_levels(torch.from_numpy(ref.T), sr, HOP_S))

    total = sum(counts[k][1] for k in ("reference active", "reference quiet"))
    print(f"{args.run}: {len(wavs)} clips, {total} generated events, {counts['reference events'][1]} reference events")
    for name, (hits, events) in counts.items():
        rate = f"{hits / events:.3f}" if events else "–"
        label = "reference audio itself" if name == "reference events" else f"generated, {name}"
        print(f"  {label:<34} events {events:5d}  hits {hits:5d}  hit rate {rate}")
    for name, values in levels.items():
        pct = np.percentile(torch.cat(values).numpy(), [10, 25, 50, 75]).round(1)
        print(f"  {name} frame level below the clip's loudest frame, dB (10/25/50/75 %): {pct.tolist()}")
    out: dict[str, Any] = {k: (v[0], v[1]) for k, v in counts.items()}
    for name, clips in placed.items():
        rows = [r for clip in clips for r in clip]
        for label, sel in (("all", (1, 2)), ("one box present", (1,)), ("two boxes present", (2,))):
            print(f"  placement, {name}, {label:<18} {placement_summary([r for r in rows if r[2] in sel])}")
        print(f"  placement, {name}: consecutive one-box error corr {consecutive_error_corr(clips):.2f}")
        out[f"placement MAE, {name}"] = float(np.mean([abs(r[0] - r[1]) for r in rows])) if rows else float("nan")
    return out


if __name__ == "__main__":
    main()
