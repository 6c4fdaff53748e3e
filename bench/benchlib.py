"""Helpers the benchmarks share: building the model and a batch from a shipped config, the timed steps
(ours and the bare-DiT reference), activation-checkpointing modes, clocks, page faults and the allocator switch.

Scripts in ``bench/`` import it by name (``from benchlib import ...``): Python puts a script's own folder first
on the import path.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import resource
import time
from pathlib import Path
from typing import Any

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
CHUNK_SECONDS = 2.0
GOALS = {True: 1.25, False: 1.40}  # ratio goals: activation checkpointing on / off
MEMORY_GOAL_GIB = 2.5
GIB = 2**30


# --- building the model and a batch from a shipped config (shared with the other bench scripts) -----------------
def instantiate(node: Any) -> Any:
    """Build ``{class_path, init_args}`` nodes of a LightningCLI config recursively (other values unchanged)."""
    if isinstance(node, dict) and "class_path" in node:
        module, _, name = node["class_path"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        return cls(**{k: instantiate(v) for k, v in (node.get("init_args") or {}).items()})
    if isinstance(node, dict):
        return {k: instantiate(v) for k, v in node.items()}
    return node


def model_args(config: str | Path) -> dict[str, Any]:
    """The ``model:`` section of a config file, unbuilt."""
    return yaml.safe_load(Path(config).read_text())["model"]


def build_module(config: str | Path, backbone_overrides: dict | None = None, **overrides: Any):
    """The StereoSync LightningModule of a config (``backbone_overrides`` go to the backbone's init_args)."""
    from stereosync.lightning_module import StereoSync

    args = model_args(config)
    args["backbone"]["init_args"].update(backbone_overrides or {})
    args.update(overrides)
    return StereoSync(**instantiate(args))


def build_backbone(config: str | Path, **overrides: Any):
    """Only the backbone of a config."""
    node = model_args(config)["backbone"]
    node["init_args"].update(overrides)
    return instantiate(node)


def synthetic_batch(module, batch_size: int, seconds: float = CHUNK_SECONDS, seed: int = 0) -> dict[str, Any]:
    """A random batch in the DataModule's format with precomputed latents (the recipe's training input)."""
    g = torch.Generator().manual_seed(seed)
    backbone, model = module.backbone, module.model
    frames = backbone.latent_frames(int(seconds * backbone.sample_rate))
    latent_shape = (batch_size, backbone.latent_channels, frames)
    box_objects = model.boxes.num_objects if model.boxes is not None else 1
    batch = {
        "latent": torch.randn(latent_shape, generator=g) / backbone.latent_scale,
        "envelope_latent": torch.randn(latent_shape, generator=g) / backbone.latent_scale,
        "boxes": torch.rand(batch_size, int(30 * seconds), box_objects, 4, generator=g),
        "box_mask": torch.rand(batch_size, int(30 * seconds), box_objects, generator=g) > 0.1,
        "clap": torch.randn(batch_size, 512, generator=g),
        "seconds_start": torch.zeros(batch_size),
        "seconds_total": torch.full((batch_size,), seconds),
        "__key__": [f"bench_{i}" for i in range(batch_size)],
    }
    if model.depth is not None and model.depth.source == "embedding":
        batch["depth_emb"] = torch.randn(batch_size, int(4 * seconds), model.depth.embed_dim, generator=g)
    else:
        batch["depth"] = torch.rand(batch_size, int(4 * seconds), 36, 64, generator=g)
    return batch


def token_count(module, batch: dict) -> int:
    with torch.no_grad():
        return module.model.condition(batch).tokens.shape[1]


# --- the two steps ------------------------------------------------------------------------------------------
CLOCK = {"cpu": time.process_time, "wall": time.perf_counter}
_clock_name = "wall"


def clock_name() -> str:
    """The clock :func:`use_clock` chose (``cpu`` or ``wall``)."""
    return _clock_name


def use_clock(name: str) -> None:
    """``cpu``: process CPU time (on a shared machine, insensitive to time slices lost to other processes; exact
    for one thread), ``wall``: elapsed time (always used on CUDA, after a synchronise)."""
    global _clock_name
    _clock_name = name


def _clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return time.perf_counter()
    return CLOCK[_clock_name]()


def _minor_faults() -> int:
    """Page faults of this process so far (each maps a fresh 4-KiB page: the CPU cost of fresh buffers)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


class OursStep:
    """The complete training step; ``__call__`` returns seconds per phase.

    Args:
        module: the StereoSync LightningModule.
        clip: gradient clipping value (``trainer.gradient_clip_val``).
        autocast: mixed-precision dtype of the forward pass (Lightning's ``bf16-mixed``: ``torch.bfloat16``).
    """

    def __init__(self, module, clip: float = 1.0, autocast: torch.dtype | None = None):
        self.module, self.clip, self.autocast = module, clip, autocast
        self.optimizer = module.configure_optimizers()
        self.params = module.model.trainable_parameters()
        self.index = 0

    def __call__(self, batch: dict) -> dict[str, float]:
        device = self.params[0].device
        f0, t0 = _minor_faults(), _clock(device)
        self.optimizer.zero_grad(set_to_none=True)
        with _autocast(device, self.autocast):
            loss = self.module.training_step(batch, self.index)
        loss.backward()
        t1 = _clock(device)
        self.module.on_before_optimizer_step(self.optimizer)
        self.module.configure_gradient_clipping(self.optimizer, self.clip, "norm")  # reuses the guard's norm
        t2 = _clock(device)
        self.optimizer.step()
        t3 = _clock(device)
        self.index += 1
        faults = _minor_faults() - f0
        return {"fwd_bwd": t1 - t0, "guard_clip": t2 - t1, "adamw": t3 - t2, "total": t3 - t0, "faults": faults}


class ReferenceStep:
    """Bare frozen DiT: forward + backward to its input latent, same shapes as ``batch``."""

    def __init__(self, backbone, tokens: int, autocast: torch.dtype | None = None):
        self.backbone, self.tokens, self.autocast = backbone, tokens, autocast

    def __call__(self, batch: dict) -> dict[str, float]:
        b, device = batch["latent"].shape[0], batch["latent"].device
        dit = self.backbone.dit
        g = torch.Generator().manual_seed(1)
        x = torch.randn(batch["latent"].shape, generator=g).to(device).requires_grad_(True)
        cond = torch.randn(b, self.tokens, self.backbone.cond_dim, generator=g).to(device)
        global_cond = torch.randn(b, self.backbone.dit_config["global_cond_dim"], generator=g).to(device)
        t = torch.rand(b, generator=g).to(device)
        f0, t0 = _minor_faults(), _clock(device)
        with _autocast(device, self.autocast):
            out = dit(
                x,
                t,
                cross_attn_cond=cond,
                global_embed=global_cond,
                use_checkpointing=self.backbone.activation_checkpointing,
            )
        torch.nn.functional.mse_loss(out.float(), torch.zeros_like(out, dtype=torch.float32)).backward()
        return {"total": _clock(device) - t0, "faults": _minor_faults() - f0}


MODES = {  # name: (backbone checkpointing, ControlNet checkpointing, goal)
    "on": (True, True, GOALS[True]),
    "on, ControlNet off": (True, False, GOALS[True]),
    "off": (False, False, GOALS[False]),
}


def set_checkpointing(module_or_backbone, on: bool, controlnet: bool | None = None) -> None:
    """Activation checkpointing of the backbone DiT and (default: the same) of the ControlNet blocks."""
    backbone = getattr(module_or_backbone, "backbone", module_or_backbone)
    backbone.activation_checkpointing = on
    model = getattr(module_or_backbone, "model", None)
    if model is not None and model.controlnet is not None:
        model.controlnet.activation_checkpointing = on if controlnet is None else controlnet


# --- memory (subprocess) ------------------------------------------------------------------------------------
def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _release_freed_memory() -> None:
    try:  # glibc keeps small freed blocks; hand them back so the reference's baseline is only the backbone
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


class Malloc:
    """glibc's handling of large CPU blocks, switchable in-process (``mallopt``), for the A/B timing rows.

    ``glibc``: the default behaviour for this workload: blocks above ~32 MiB (the largest weight gradients,
    e.g. 12288 x 1536 fp32 = 72 MiB) are ``mmap``-ed fresh on every allocation and returned on free, so each step
    page-faults them in 4-KiB pages (a weight-gradient GEMM with 45 rows: ~55 ms into a fresh buffer, ~12 ms into
    one already mapped). ``caching``: freed memory stays in the heap and is reused, as a GPU's caching allocator
    reuses its blocks; the same arithmetic, without the page faults.
    """

    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    NAMES = ("glibc", "caching")

    def __init__(self) -> None:
        try:
            self.libc: Any = ctypes.CDLL("libc.so.6")
            _ = self.libc.mallopt, self.libc.malloc_trim
        except (OSError, AttributeError):
            self.libc = None

    @property
    def available(self) -> bool:
        return self.libc is not None

    def use(self, name: str) -> None:
        if name not in self.NAMES:
            raise ValueError(f"allocator {name!r}: expected one of {self.NAMES}")
        if self.libc is None:
            if name == "caching":
                raise RuntimeError("the caching allocator setting needs glibc's mallopt (Linux/glibc only)")
            return
        if name == "caching":
            ok = self.libc.mallopt(self.M_MMAP_THRESHOLD, 1 << 30) and self.libc.mallopt(
                self.M_TRIM_THRESHOLD, 2**31 - 1
            )
        else:  # glibc's dynamic thresholds settle at their 32-MiB / 64-MiB ceilings in this workload
            ok = self.libc.mallopt(self.M_MMAP_THRESHOLD, 32 << 20) and self.libc.mallopt(
                self.M_TRIM_THRESHOLD, 64 << 20
            )
            self.libc.malloc_trim(0)
        if not ok:
            raise RuntimeError(f"mallopt refused the {name!r} allocator setting")


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _peak_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
