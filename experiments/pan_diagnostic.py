"""How much of the stereo image a trained tiny model takes from the video streams.

For every held-out chunk: noise the clean parametric-stereo latent to time t, let the trained model predict x0
(v-objective: x0 = α·x_t − σ·v) with its tokens and with the tokens dropped (the null condition), and correlate the
predicted pan channels with the true pan over active latent frames. Near t = 1 the noisy latent holds almost no
pan, so the correlation (and the regression slope; < 1 = hedging towards the centre) measures what the model
takes from boxes/depth. Also reported for one-character chunks only (two characters are ambiguous), where the
true pan is a function of the box alone: there the mean absolute error (and its mean, the bias) of the predicted
pan, in the latent's pan units (−1 … 1 = frame width), is how precisely the model places a source it cannot
confuse with another.

    python experiments/pan_diagnostic.py runs/ablations/full-seed0/version_0/checkpoints/last.ckpt
    python experiments/pan_diagnostic.py CKPT --ablation no_spatial --times 0.95 0.98 0.995

Needs a model on the parametric-stereo latent (``model_config: tiny_ps``, the tiny recipe's default).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def main(argv: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a Lightning checkpoint of the tiny recipe (trainable weights)")
    p.add_argument("--ablation", default="full", help="configs/ablations/<name>.yaml the checkpoint was trained with")
    p.add_argument("--times", type=float, nargs="+", default=[0.98, 0.995])
    p.add_argument("--data-root", default="data/bench-16k")
    p.add_argument("--train-scenes", type=int, default=64)
    p.add_argument("--test-scenes", type=int, default=48, help="held-out test scenes (the ablation table's)")
    p.add_argument("--active", type=float, default=0.05, help="mean-square mono-patch level of an active frame")
    p.add_argument(
        "--guided", action="store_true", help="also the guided denoiser (the recipe's sampler CFG scale and guidance)"
    )
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="further CLI arguments (as for training)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    from stereosync.cli import cli_main

    cli = cli_main(
        ["--config", str(REPO / "configs" / "tiny.yaml")]
        + ["--config", str(REPO / "configs" / "ablations" / f"{args.ablation}.yaml")]
        + [f"--data.synthetic.root={args.data_root}", f"--data.synthetic.train_scenes={args.train_scenes}"]
        + [f"--data.synthetic.test_scenes={args.test_scenes}", "--data.num_workers=0", "--model.fad=false"]
        + list(args.extra),
        run=False,
    )  # fmt: skip
    module = cli.model
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    _, unexpected = module.load_state_dict(state, strict=False)
    if unexpected:
        raise SystemExit(f"{args.checkpoint} does not fit --ablation {args.ablation}: unexpected keys {unexpected[:4]}")
    out = x0_pan(module, cli.datamodule, args.times, args.active, args.guided)
    print(f"{Path(args.checkpoint)} ({args.ablation}): x0-pan vs true pan over active latent frames")
    for key, (corr, slope, frames, mae, bias) in out.items():
        print(f"  {key:<34} corr {corr:6.3f}  slope {slope:6.3f}  MAE {mae:6.3f}  bias {bias:+6.3f}  frames {frames}")
    return out


@torch.no_grad()
def x0_pan(
    module, datamodule, times: Sequence[float] = (0.995,), active_level: float = 0.05, guided: bool = False
) -> dict[str, tuple[float, float, int, float, float]]:
    """Correlation, regression slope (through 0), frame count, mean absolute error and mean error of the predicted x0
    pan against the true pan (pan units, −1 … 1) over active latent frames of the test split, per time, with the
    tokens and without (``null``), also for one-character chunks: ``{"t=0.995 tokens": (corr, slope, frames, mae,
    bias), ...}``. With ``guided``, also the denoiser as the sampler runs it
    (the module's ``sampler.cfg_scale`` and ``guidance``): ``"t=0.995 guided"``. Noise is seeded: the same model
    gives the same numbers."""
    from stereosync.models.objective import alpha_sigma, noise_and_target
    from stereosync.models.parametric_stereo import ParametricStereoPretransform

    if not isinstance(module.backbone.pretransform, ParametricStereoPretransform):
        raise ValueError("the x0-pan diagnostic needs a parametric-stereo backbone (model_config tiny_ps)")
    was_training = module.training
    module.eval()
    datamodule.prepare_data()
    datamodule.setup("test")
    ps = module.backbone.pretransform
    patch, to_pan = ps.patch_size, 1.0 / (ps.pan_scale * module.backbone.latent_scale)
    pairs: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    gen = torch.Generator().manual_seed(0)

    def variants(cond):
        out = [("tokens", cond, 1.0), ("null", cond.drop_tokens(1.0), 1.0)]
        return out + ([("guided", cond, module.sampler.cfg_scale)] if guided else [])

    for batch in datamodule.test_dataloader():
        batch = {k: v.to(module.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        x0 = module.latents(batch)
        cond = module.model.condition(batch)
        truth = x0[:, patch:].mean(1) * to_pan  # (B, L) pan units
        active = x0[:, :patch].pow(2).mean(1) > active_level
        one = active & (batch["box_mask"].float().sum(-1).amax(-1) <= 1)[:, None]
        for t in times:
            tt = torch.full((x0.shape[0],), t, device=x0.device)
            x_t, _ = noise_and_target(x0, tt, torch.randn(x0.shape, generator=gen).to(x0))
            alpha, sigma = (s.view(-1, 1, 1) for s in alpha_sigma(tt))
            for name, c, scale in variants(cond):
                v = module.model(x_t, tt, c, cfg_scale=scale, guidance=module.sampler.guidance)
                pan = (alpha * x_t - sigma * v)[:, patch:].mean(1) * to_pan
                pairs.setdefault(f"t={t} {name}", []).append((pan[active].cpu(), truth[active].cpu()))
                pairs.setdefault(f"t={t} {name}, one character", []).append((pan[one].cpu(), truth[one].cpu()))
    module.train(was_training)
    out = {}
    for key, chunks in pairs.items():
        pred, truth = torch.cat([a for a, _ in chunks]).numpy(), torch.cat([b for _, b in chunks]).numpy()
        corr = float(np.corrcoef(pred, truth)[0, 1])
        slope = float((pred * truth).sum() / (truth * truth).sum())
        err = pred - truth
        out[key] = (corr, slope, len(truth), float(np.abs(err).mean()), float(err.mean()))
    return out


if __name__ == "__main__":
    main()
