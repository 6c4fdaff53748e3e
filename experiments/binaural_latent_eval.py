"""Round trip of the ground-truth binaural through candidate latents: which interaural cues must a latent carry?

Each held-out test scene's binaural render (seed 0, split ``test``, 6 s at 16 kHz, peak-normalised) is encoded
and decoded by each candidate, then compared with the original over the frames where both are active (the
binaural metric's 0.1-s events):

- ``|Δaz|``: the binaural metric's azimuth of the round trip against that of the original (degrees);
- ``ILD error``: mean |ΔILD| in eight octave-ish bands (125 Hz … 8 kHz), energy-weighted, in dB;
- binaural Spatial AV-Align and azimuth MAE of the round trip against the generator's boxes.

Candidates: the parametric-binaural latent with 1, 3 or 7 ILD bands (ITD always), the 3-band one with its ITD
or its ILDs zeroed before decoding, and the parametric-stereo latent (one level ratio per frame, no delay).

    python experiments/binaural_latent_eval.py --scenes 16
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

SR = 16000
BAND_EDGES = {1: (), 3: (1500.0, 4000.0), 7: (500.0, 1000.0, 2000.0, 3000.0, 4500.0, 6000.0)}
ILD_BANDS = (125, 250, 500, 1000, 2000, 3000, 4500, 6000, 8000)


def candidates() -> dict:
    """name → function (1, 2, T) binaural → (2, T) round trip."""
    from stereosync.models.parametric_binaural import ParametricBinauralPretransform
    from stereosync.models.parametric_stereo import ParametricStereoPretransform

    out = {}
    for n, edges in BAND_EDGES.items():
        p = ParametricBinauralPretransform(SR, band_edges_hz=edges)  # 32 cue channels each
        out[f"ITD + {n} ILD band{'s' if n > 1 else ''}"] = lambda x, p=p: p.decode(p.encode(x))[0]
    p3 = ParametricBinauralPretransform(SR, band_edges_hz=BAND_EDGES[3])

    def zeroed(x: torch.Tensor, cue: slice) -> torch.Tensor:
        z = p3.encode(x)
        z[:, p3.patch_size :][:, cue] = 0
        return p3.decode(z)[0]

    out["3 ILD bands, ITD zeroed"] = lambda x: zeroed(x, slice(0, p3.copies))
    out["ITD only (ILDs zeroed)"] = lambda x: zeroed(x, slice(p3.copies, None))
    ps = ParametricStereoPretransform(256, 32, 0.2)
    out["parametric stereo (pan)"] = lambda x: ps.decode(ps.encode(x))[0]
    return out


def band_ild(x: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ILD (J, bands) dB and the bands' energy (J, bands) of 0.1-s frames ``frames`` of binaural ``x`` (2, T)."""
    hop = SR // 10
    spec = np.abs(np.fft.rfft(np.stack([x[:, j * hop : (j + 1) * hop] for j in frames], 1)))  # (2, J, F)
    f = np.fft.rfftfreq(hop, 1 / SR)
    band = np.digitize(f, ILD_BANDS[1:-1])
    e = np.stack([(spec[..., band == b] ** 2).sum(-1) for b in range(len(ILD_BANDS) - 1)], -1)  # (2, J, bands)
    return 10 * np.log10((e[0] + 1e-10) / (e[1] + 1e-10)), e.sum(0)


def main() -> None:
    from stereosync.data.synthetic import generate_scene, scene_seed
    from stereosync.metrics.functional.binaural_align import azimuth_events, binaural_stats

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=16)
    a = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows = candidates()
    acc = {name: {"daz": [], "ild": [0.0, 0.0], "tp": 0, "fn": 0, "err": 0.0, "n": 0} for name in ["original", *rows]}
    for i in range(a.scenes):
        scene = generate_scene(scene_seed(0, "test", i), duration=6.0, sample_rate=SR)
        x = torch.from_numpy(scene.binaural).double()
        x = x / x.abs().max()
        boxes, mask = torch.from_numpy(scene.boxes), torch.from_numpy(scene.box_mask)
        ref = azimuth_events(x, SR, boxes, mask)
        outs = {"original": x, **{name: f(x[None].float()).double()[:, : x.shape[-1]] for name, f in rows.items()}}
        for name, y in outs.items():
            ev = azimuth_events(y, SR, boxes, mask)
            both = (ev.active & ref.active).nonzero().flatten().numpy()
            acc[name]["daz"].append((ev.azimuth - ref.azimuth)[both].abs().numpy())
            ild_ref, weight = band_ild(x.numpy(), both)
            ild_y, _ = band_ild(y.numpy(), both)
            acc[name]["ild"][0] += float((np.abs(ild_y - ild_ref) * weight).sum())
            acc[name]["ild"][1] += float(weight.sum())
            s = binaural_stats(ev)
            acc[name]["tp"] += s.tp
            acc[name]["fn"] += s.fn
            acc[name]["err"] += s.abs_err_sum
            acc[name]["n"] += s.n_matched
    lines = [
        f"Round trip of the ground-truth binaural, {a.scenes} held-out scenes (6 s, 16 kHz)",
        "",
        "| latent | mean \\|Δaz\\| (°) | 90th pct (°) | ILD error (dB) | binaural Sp. AV-Align | az. MAE (°) |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, v in acc.items():
        daz = np.concatenate(v["daz"])
        lines.append(
            f"| {name} | {daz.mean():.1f} | {np.quantile(daz, 0.9):.1f} | {v['ild'][0] / v['ild'][1]:.2f} "
            f"| {v['tp'] / max(v['tp'] + v['fn'], 1):.3f} | {v['err'] / max(v['n'], 1):.1f} |"
        )
    lines.append(f"\nWall time {time.perf_counter() - t0:.0f} s (1 torch thread)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
