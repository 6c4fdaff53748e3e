"""Train the tiny synthetic-domain detector or depth model on generator frames (mp4 round trip).

Command line (one recipe each; the shipped weights were made with these defaults)::

    python -m stereosync.extract.tiny_train --model detector \\
        --out src/stereosync/weights/tiny_detector.safetensors
    python -m stereosync.extract.tiny_train --model depth \\
        --out src/stereosync/weights/tiny_depth.safetensors

Training scenes come from the ``tiny-vision-train`` seed stream (:func:`.tiny_data.frame_seeds`), disjoint
from the held-out ``tiny-vision-heldout`` scenes of ``experiments/tiny_vision_eval.py`` and from the
``train``/``val``/``test`` splits of the synthetic dataset. Augmentation: horizontal flips and photometric
jitter with noise (:func:`.tiny_targets.augment`), on top of the codec noise of the mp4 round trip.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from stereosync.extract.tiny_data import frame_seeds, labelled_videos
from stereosync.extract.tiny_depth import KIND as DEPTH_KIND
from stereosync.extract.tiny_depth import TinyDepthNet
from stereosync.extract.tiny_detector import KIND as DETECTOR_KIND
from stereosync.extract.tiny_detector import TinyDetectorNet
from stereosync.extract.tiny_negatives import negative_frames
from stereosync.extract.tiny_nets import save_model, to_input
from stereosync.extract.tiny_targets import augment, detector_loss, detector_targets

log = logging.getLogger(__name__)


def detector_data(videos, every: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Every ``every``-th box frame of each video with its true boxes (n, 4), normalised."""
    frames, boxes = [], []
    for v in videos:
        for i in range(0, len(v.box_frames), every):
            frames.append(v.box_frames[i])
            boxes.append(v.boxes[i][v.box_mask[i]])
    return np.stack(frames), boxes


def depth_data(videos) -> tuple[np.ndarray, np.ndarray]:
    """All depth-grid frames of the videos with their true nearness maps."""
    return np.concatenate([v.depth_frames for v in videos]), np.concatenate([v.depth for v in videos])


def _schedule(opt: torch.optim.Optimizer, lr: float, step: int, steps: int, warmup: int = 100) -> None:
    scale = min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step / steps, 1.0)))
    for group in opt.param_groups:
        group["lr"] = lr * scale


def train_detector(
    frames, boxes, steps: int, batch_size: int, lr: float, seed: int, width: int, negatives=None, neg_share=0.0
) -> TinyDetectorNet:
    """Fit a :class:`TinyDetectorNet` on frames (N, H, W, 3) uint8 and per-frame normalised boxes.

    ``negatives`` (M, H, W, 3) are real frames with no one in them; ``neg_share`` of each batch is drawn from
    them with an empty target, so the heatmap learns to stay low off the synthetic domain.
    """
    if negatives is not None and len(negatives) and neg_share > 0:
        frames = np.concatenate([frames, negatives])
        boxes = list(boxes) + [np.zeros((0, 4), np.float32)] * len(negatives)
        n_pos = len(frames) - len(negatives)
    else:
        n_pos, neg_share = len(frames), 0.0
    n_neg = int(round(batch_size * neg_share))
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = TinyDetectorNet(width, tuple(frames.shape[1:3])).train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    grid = tuple(s // net.stride for s in net.input_size)
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(n_pos, (batch_size - n_neg,), generator=gen).numpy()
        if n_neg:
            idx = np.concatenate([idx, n_pos + torch.randint(len(frames) - n_pos, (n_neg,), generator=gen).numpy()])
        flip = torch.rand(batch_size, generator=gen).numpy() < 0.5
        x = to_input(frames[idx], net.input_size, "cpu", torch.float32)
        x = torch.where(torch.from_numpy(flip)[:, None, None, None], x.flip(-1), x)
        bx = [boxes[i][:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [1, 0, 1, 0] if f else boxes[i] for i, f in zip(idx, flip)]
        heat, reg, mask = detector_targets(bx, grid)
        _schedule(opt, lr, step, steps)
        loss = detector_loss(net(augment(x, gen)), heat, reg, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log.info("detector step %d/%d loss %.4f (%.0f s)", step, steps, loss.item(), time.perf_counter() - t0)
    return net.eval()


def train_depth(frames, depth, steps: int, batch_size: int, lr: float, seed: int, width: int) -> TinyDepthNet:
    """Fit a :class:`TinyDepthNet` on frames (N, H, W, 3) uint8 and true nearness maps (N, H/4, W/4)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = TinyDepthNet(width, tuple(frames.shape[1:3])).train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    target_all = torch.from_numpy(depth)
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(len(frames), (batch_size,), generator=gen)
        flip = (torch.rand(batch_size, generator=gen) < 0.5)[:, None, None]
        x = to_input(frames[idx.numpy()], net.input_size, "cpu", torch.float32)
        x = torch.where(flip[:, None], x.flip(-1), x)
        target = target_all[idx]
        target = torch.where(flip, target.flip(-1), target)
        _schedule(opt, lr, step, steps)
        pred = net(augment(x, gen))
        if pred.shape[-2:] != target.shape[-2:]:
            pred = F.interpolate(pred[:, None], size=target.shape[-2:], mode="bilinear")[:, 0]
        loss = (pred - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log.info("depth step %d/%d L1 %.4f (%.0f s)", step, steps, loss.item(), time.perf_counter() - t0)
    return net.eval()


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: generate training scenes, train one model, write its safetensors file."""
    p = argparse.ArgumentParser(prog="python -m stereosync.extract.tiny_train", description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["detector", "depth"], required=True)
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--scenes", type=int, default=None, help="training scenes (default 60)")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (default 600 detector, 500 depth)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--width", type=int, default=24, help="channels at stride 4")
    p.add_argument("--every", type=int, default=4, help="detector: every N-th 30-fps frame of each scene")
    p.add_argument(
        "--negatives",
        type=float,
        default=0.25,
        help="detector: share of each batch from real frames "
        "without people (stereosync.extract.tiny_negatives, train split); 0 = synthetic only",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    detector = args.model == "detector"
    scenes = args.scenes or 60
    steps = args.steps or (600 if detector else 500)
    t0 = time.perf_counter()
    videos = labelled_videos(frame_seeds("tiny-vision-train", scenes, args.seed), progress=True)
    t_data = time.perf_counter() - t0
    if detector:
        frames, boxes = detector_data(videos, args.every)
        del videos
        negatives = negative_frames("train", tuple(frames.shape[1:3]), seed=args.seed) if args.negatives else None
        net = train_detector(
            frames, boxes, steps, args.batch_size, args.lr, args.seed, args.width, negatives, args.negatives
        )
    else:
        frames, depth = depth_data(videos)
        del videos
        net = train_depth(frames, depth, steps, args.batch_size, args.lr, args.seed, args.width)
    facts = {
        "recipe": f"python -m stereosync.extract.tiny_train --model {args.model}",
        "scenes": scenes,
        "frames": len(frames),
        "negatives": (len(negatives) if negatives is not None else 0, args.negatives) if detector else None,
        "steps": steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "data_seconds": round(t_data, 1),
        "train_seconds": round(time.perf_counter() - t0 - t_data, 1),
    }
    path = save_model(net, DETECTOR_KIND if detector else DEPTH_KIND, net.config, args.out, facts)
    params = sum(p.numel() for p in net.parameters())
    summary = {**facts, "out": str(path), "parameters": params, "bytes": path.stat().st_size}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
