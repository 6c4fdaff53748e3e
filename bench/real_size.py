"""Benchmark: CPU cost of each real-size model, loaded from real-format files (random values, real shapes).

    python bench/real_size.py --root ~/.cache/stereosync/realformat [--parts extract vae dit] [--repeats 3]

``--root`` holds what ``python -m stereosync.realformat --root DIR`` makes (the downloaded layout). Timed,
median of the repeats after one warm-up, one torch thread unless ``--threads``:

- ``extract``: one frame through each extraction model as ``stereosync-extract`` runs it (a 360×640 frame;
  Depth Anything V2 Small at 518 px, RT-DETR R50 at 640×640, CLIP ViT-L/14 on one depth map) and one 2-s chunk
  through LAION-CLAP (fusion);
- ``vae``: SAO's Oobleck VAE encoding and decoding 2 s of 44.1-kHz stereo (only the ``pretransform.*`` tensors
  are read from ``model.safetensors``);
- ``dit``: SAO's DiT (``Backbone`` with the full weights file, 4.85 GB) forward + backward to its input at batch 1,
  a 2-s clip (44 latent frames), 71 cross-attention tokens, checkpointing on — about 9 GiB of memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_extract(root: Path, repeats: int) -> dict[str, float]:
    from stereosync.extract.factory import build_featurizer
    from stereosync.realformat import extraction_models, paths

    f, _ = build_featurizer(extraction_models(paths(root)))
    frame = np.random.default_rng(0).integers(0, 255, (1, 360, 640, 3), dtype=np.uint8)
    depth = f.depth(frame)
    audio = torch.randn(1, 2, 88200) * 0.1
    return {
        "depth (Depth Anything V2 Small), s per frame": timed(lambda: f.depth(frame), repeats),
        "detector (RT-DETR R50), s per frame": timed(lambda: f.tracker.detector(frame, np.zeros(1)), repeats),
        "image encoder (CLIP ViT-L/14), s per depth frame": timed(lambda: f.image_encoder(depth), repeats),
        "CLAP (HTSAT-tiny fusion), s per 2-s chunk": timed(lambda: f.clap(audio, 44100), repeats),
    }


def bench_vae(root: Path, repeats: int) -> dict[str, float]:
    from safetensors import safe_open
    from stable_audio_tools.models.factory import create_pretransform_from_config

    from stereosync.models.model_config import load_model_config
    from stereosync.realformat import paths

    config = load_model_config("sao_1_0")
    vae = create_pretransform_from_config(config["model"]["pretransform"], config["sample_rate"])
    with safe_open(str(paths(root)["sao"] / "model.safetensors"), "pt") as weights:
        # AutoencoderPretransform.load_state_dict loads its inner autoencoder: keys without "pretransform.model."
        keys = [k for k in weights.keys() if k.startswith("pretransform.model.")]
        state = {k[len("pretransform.model.") :]: weights.get_tensor(k) for k in keys}
    vae.load_state_dict(state)
    vae.eval()
    audio = torch.randn(1, 2, 90112) * 0.1  # 2 s at 44.1 kHz, padded to a multiple of 2048
    with torch.no_grad():
        latent = vae.encode(audio)
        return {
            "VAE encode, s per 2 s of audio": timed(lambda: vae.encode(audio), repeats),
            "VAE decode, s per 2 s of audio": timed(lambda: vae.decode(latent), repeats),
        }


def bench_dit(root: Path, repeats: int) -> dict[str, float]:
    from stereosync.models.backbone import Backbone
    from stereosync.realformat import paths

    backbone = Backbone("sao_1_0", weights=str(paths(root)["sao"]), activation_checkpointing=True)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(1, 71, backbone.cond_dim, generator=g)
    _, global_cond = backbone.number_conditioning(torch.zeros(1), torch.full((1,), 2.0))
    x = torch.randn(1, backbone.latent_channels, 44, generator=g, requires_grad=True)
    t = torch.rand(1, generator=g)

    def step() -> None:
        backbone(x, t, tokens, global_cond).square().mean().backward()
        x.grad = None

    return {"DiT forward + backward, batch 1, s": timed(step, repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="folder made by python -m stereosync.realformat")
    parser.add_argument("--parts", nargs="+", default=["extract", "vae", "dit"], choices=["extract", "vae", "dit"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    benches = {"extract": bench_extract, "vae": bench_vae, "dit": bench_dit}
    rows: dict[str, float] = {}
    for part in args.parts:
        rows.update(benches[part](Path(args.root), args.repeats))
    print(f"| model, {args.threads} thread(s), median of {args.repeats} | seconds |\n|---|---|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.3f} |")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
