"""GPU benchmark (one H100, ≤ 8 min): real-size training step and 2-s clip generation.

    python bench/gpu.py                      # configs/sao.yaml, batch 8, bf16-mixed
    python bench/gpu.py --compile            # also the torch.compile'd step (adds a few minutes of compiling)

Random backbone weights unless ``$STEREOSYNC_SAO_DIR`` points at SAO (speed does not depend on the values).
Training rows: the complete step of ``bench/train_step.py`` (``training_step`` on precomputed latents, backward,
non-finite guard, clipping at 1.0, fused AdamW) under ``torch.autocast(bfloat16)`` as Lightning's
``precision: bf16-mixed`` runs it, with the frozen DiT stored in fp32 (``backbone.dtype: float32``) or bf16
(``backbone.dtype: bfloat16``), activation checkpointing on/off; the bare DiT (forward + backward to its input) at
the same settings is the reference. Median of ``--steps`` steps after 3 warm-up steps; peak memory =
``torch.cuda.max_memory_allocated`` over those steps. Generation rows: ``StereoSync.generate`` of one clip (and
of a batch of ``--batch-size`` clips) — envelope encoded from reference audio, 150 ``dpmpp-3m-sde`` steps with
CFG 2.0, Oobleck decode — plus the sampler alone with a zero denoiser (its Brownian-tree noise is Python-heavy).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from benchlib import (
    CHUNK_SECONDS,
    MODES,
    REPO,
    OursStep,
    ReferenceStep,
    build_module,
    set_checkpointing,
    synthetic_batch,
    token_count,
)

GIB = 2**30


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, batch: dict, steps: int, warmup: int = 3) -> tuple[float, str]:
    """(median seconds per step, peak memory allocated during the timed steps and the resident part of it)."""
    for _ in range(warmup):
        step(batch)
    device = batch["latent"].device
    if device.type != "cuda":
        return statistics.median(step(batch)["total"] for _ in range(steps)), "n/a (CPU)"
    torch.cuda.reset_peak_memory_stats()
    resident = torch.cuda.memory_allocated() / GIB
    times = [step(batch)["total"] for _ in range(steps)]
    return statistics.median(times), f"{torch.cuda.max_memory_allocated() / GIB:5.1f} GiB ({resident:.1f} resident)"


def time_generation(module, batch_size: int, steps: int, device: torch.device) -> float:
    module.sampler.steps = steps
    batch = synthetic_batch(module, batch_size)
    for k in ("latent", "envelope_latent"):  # generation: from noise, envelope from reference audio
        batch.pop(k)
    batch["audio"] = torch.randn(batch_size, 2, int(CHUNK_SECONDS * module.backbone.sample_rate)) * 0.1
    batch = to_device(batch, device)
    module.eval()
    with torch.autocast(device.type, dtype=torch.bfloat16):
        module.generate(batch, seeds=list(range(batch_size)))  # warm-up (kernels, cuDNN autotuning)
        _sync(device)
        t0 = time.perf_counter()
        module.generate(batch, seeds=list(range(batch_size)))
        _sync(device)
    module.train()
    return time.perf_counter() - t0


def time_sampler_alone(module, steps: int, device: torch.device) -> float:
    """The sampler with a denoiser that costs nothing: the noise sampler's and the loop's own overhead."""
    from stereosync.models.stereosync import Conditioning

    class Zero(torch.nn.Module):
        backbone = module.backbone

        def forward(self, x, t, cond, cfg_scale=1.0, guidance="all"):
            return torch.zeros_like(x)

    module.sampler.steps = steps
    frames = module.backbone.latent_frames(int(CHUNK_SECONDS * module.backbone.sample_rate))
    cond = Conditioning(None, torch.zeros(1, 1, device=device), None)
    _sync(device)
    t0 = time.perf_counter()
    module.sampler(Zero(), cond, frames, [0])
    _sync(device)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "sao.yaml"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per row")
    parser.add_argument("--gen-steps", type=int, default=150)
    parser.add_argument("--compile", action="store_true", help="add a torch.compile row (compiles for minutes)")
    parser.add_argument("--device", default="cuda", help="'cpu' only to smoke-test this script (e.g. tiny config)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench/gpu.py needs a CUDA GPU (torch.cuda.is_available() is False); CPU figures: bench/run_all.py")
        return 1
    t_start = time.perf_counter()
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    module = build_module(args.config).to(device)
    batch = to_device(synthetic_batch(module, args.batch_size), device)
    tokens = token_count(module, batch)
    print(f"built in {time.perf_counter() - t_start:.0f} s on {name}", flush=True)
    rows: list[tuple[str, str, str]] = []
    bf16 = torch.bfloat16
    ours, ref = OursStep(module, autocast=bf16), ReferenceStep(module.backbone, tokens, autocast=bf16)

    def train_rows(dit_dtype: str) -> None:
        for mode, (ckpt, cn_ckpt, _) in MODES.items():
            set_checkpointing(module, ckpt, cn_ckpt)
            steps = [("ours (complete step)", ours)]
            if ckpt == cn_ckpt:  # the bare DiT has no ControlNet: one reference per DiT setting
                steps.append(("reference (bare DiT fwd+bwd)", ref))
            for label, step in steps:
                sec, peak = time_steps(step, batch, args.steps)
                what = f"train, batch {args.batch_size}, {label}"
                setting = f"bf16-mixed, DiT {dit_dtype}, ckpt {mode}"
                rows.append((what, setting, f"{1000 * sec:.0f} ms/step, peak {peak}"))
                print(" | ".join(rows[-1]), flush=True)

    train_rows("fp32")
    gen = time_generation(module, 1, args.gen_steps, device)
    rows.append((f"generate 1 clip of {CHUNK_SECONDS:g} s", f"{args.gen_steps} steps, CFG, DiT fp32", f"{gen:.2f} s"))
    print(" | ".join(rows[-1]), flush=True)
    module.backbone.dit.to(bf16)  # the `dtype: bfloat16` option: the frozen DiT stored in bf16
    train_rows("bf16")
    for b in (1, args.batch_size):
        gen = time_generation(module, b, args.gen_steps, device)
        label = f"generate {b} clip{'s' if b > 1 else ''} of {CHUNK_SECONDS:g} s"
        rows.append((label, f"{args.gen_steps} steps, CFG, DiT bf16", f"{gen:.2f} s ({gen / b:.2f} s/clip)"))
        print(" | ".join(rows[-1]), flush=True)
    alone = time_sampler_alone(module, args.gen_steps, device)
    rows.append(("sampler alone (zero denoiser)", f"{args.gen_steps} steps", f"{alone:.2f} s"))
    if args.compile:  # what the LightningModule's `compile: true` does
        set_checkpointing(module, True)
        module.backbone.dit.compile()
        module.model.controlnet.dit.compile()
        t0 = time.perf_counter()
        ours(batch)
        compile_s = time.perf_counter() - t0
        sec, peak = time_steps(ours, batch, args.steps)
        setting = f"bf16-mixed, DiT bf16, ckpt on, compiled ({compile_s:.0f} s first step)"
        rows.append((f"train, batch {args.batch_size}, ours", setting, f"{1000 * sec:.0f} ms/step, peak {peak}"))
    print(f"\nStereoSync on {name}, {Path(args.config).name}, random weights")
    width = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    print(f"| {'what':<{width[0]}} | {'setting':<{width[1]}} | result |")
    print(f"|{'-' * (width[0] + 2)}|{'-' * (width[1] + 2)}|--------|")
    for what, setting, result in rows:
        print(f"| {what:<{width[0]}} | {setting:<{width[1]}} | {result.strip()} |")
    print(f"total {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
