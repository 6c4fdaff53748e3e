"""``stereosync-doctor``'s checks of the data and the machine: shards, free disk, GPU memory."""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stereosync.data.schema import SchemaError, decode_member, validate
from stereosync.doctor_checks import Check, fail, ok

SAMPLES_DECODED = 3
"""Samples decoded and validated at the start of the first and the last shard of each split."""

GIB = 2**30
# Peak memory of the sao.yaml training step at batch 1, fp32 DiT, checkpointing on (docs/benchmarks.md, "Peak
# memory": 8.93 GiB, `python bench/train_step.py`), and what each further sample adds: the reference DiT's peak
# (6.03 GiB) less its fp32 weights (1,056.9 M x 4 B = 3.94 GiB) bounds one sample's activations from above.
BATCH1_PEAK_GIB = 8.93
PER_SAMPLE_GIB = 6.03 - 3.94
BF16_SAVING_GIB = 1.97  # `backbone.dtype: bfloat16` (docs/benchmarks.md)
CHECKPOINT_GIB = {"float32": 0.72, "bfloat16": 0.36}  # trainable-only checkpoint of sao.yaml (docs/benchmarks.md)


def _samples(url: str, limit: int) -> Iterator[dict]:
    """The first ``limit`` samples of a tar, decoded (``{"__key__", "json", member: array}``)."""
    sample: dict = {}
    with tarfile.open(url) as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, _, ext = Path(member.name).name.partition(".")
            if sample and key != sample["__key__"]:
                yield sample
                limit -= 1
                if limit == 0:
                    return
                sample = {}
            sample["__key__"] = key
            name, value = decode_member(ext, tar.extractfile(member).read(), shard=url, key=key)
            sample[name] = value
    if sample:
        yield sample


def _count(url: str) -> int:
    with tarfile.open(url) as tar:
        return len({Path(m.name).name.partition(".")[0] for m in tar if m.isfile()})


@dataclass(frozen=True)
class Width:
    """One axis of a shard member whose size the recipe fixes.

    Attributes:
        member: shard member (``depth_emb``, ``boxes``).
        axis: the axis.
        size: the size the recipe's model expects.
        setting: the recipe key that sets it.
        extract_flag: the ``stereosync-extract`` flag that sets it on the data side.
    """

    member: str
    axis: int
    size: int
    setting: str
    extract_flag: str


def check_shards(split: str, spec, sample_rate: int, widths: tuple[Width, ...] = ()) -> Check:
    """Shards of one split: present, readable, samples valid at the recipe's sample rate and member widths;
    counts them."""
    from datamodules.shards import expand_shards

    name = f"shards {split}"
    fix_missing = f"set data.{split}_shards to the folder of shards written by stereosync-extract"
    if spec is None:
        return fail(name, "not set", fix_missing)
    try:
        urls = expand_shards(spec)
    except FileNotFoundError as err:
        return fail(name, str(err), fix_missing)
    if not urls:
        return fail(name, f"no .tar shards in {spec}", fix_missing)
    local = [u for u in urls if not u.startswith(("pipe:", "http:", "https:", "s3:", "gs:"))]
    try:
        for url in dict.fromkeys([local[0], local[-1]]) if local else []:
            for sample in _samples(url, SAMPLES_DECODED):
                validate(sample, shard=url)
                problem = _sample_problem(url, sample, sample_rate, widths)
                if problem:
                    return fail(name, *problem)
        counts = [_count(u) for u in local]
    except (SchemaError, tarfile.TarError, OSError) as err:
        return fail(name, str(err)[:400], "extract the named shard again (or remove it from the split)")
    if not local:
        return ok(name, f"{len(urls)} remote shards (not read)")
    return ok(name, f"{len(urls)} shards, {sum(counts)} samples at {sample_rate} Hz")


def _sample_problem(url: str, sample: dict, sample_rate: int, widths: tuple[Width, ...]) -> tuple[str, str] | None:
    """(problem, fix) of a valid sample the recipe still cannot read, else None."""
    where = f"{url}, sample {sample['__key__']}"
    rate = int(sample["json"]["sample_rate"])
    if rate != sample_rate:
        return (
            f"{where}: sample_rate {rate} Hz, the recipe trains at {sample_rate} Hz (data.sample_rate)",
            f"extract the shards again at {sample_rate} Hz (stereosync-extract --sample-rate {sample_rate}) "
            f"or use a recipe at {rate} Hz",
        )
    for w in widths:
        if w.member not in sample:
            return (
                f"{where}: no '{w.member}' member, which the recipe reads ({w.setting})",
                f"extract with {w.extract_flag}",
            )
        got = sample[w.member].shape[w.axis]
        if got != w.size:
            return (
                f"{where}: '{w.member}' has {got} on axis {w.axis}, the recipe expects {w.size} ({w.setting})",
                f"set {w.setting}: {got}, or extract again with the matching {w.extract_flag}",
            )
    return None


def check_disk(root: str | Path, checkpoints: int, checkpoint_gib: float) -> Check:
    """Free space where checkpoints go, for ``checkpoints`` files of ``checkpoint_gib`` each (+ 10 %)."""
    path = Path(root).absolute()
    while not path.exists():
        path = path.parent
    free = shutil.disk_usage(path).free / GIB
    need = 1.1 * checkpoints * checkpoint_gib
    detail = f"{free:.1f} GiB free at {path}, {need:.1f} GiB needed ({checkpoints} checkpoints × {checkpoint_gib} GiB)"
    if free < need:
        return fail("disk", detail, "free space there or set trainer.default_root_dir on a larger disk")
    return ok("disk", detail)


def gpu_need_gib(batch_size: int, bf16_backbone: bool) -> float:
    """Estimated peak GPU memory of one sao.yaml training step (GiB); see the constants' sources."""
    return BATCH1_PEAK_GIB + (batch_size - 1) * PER_SAMPLE_GIB - (BF16_SAVING_GIB if bf16_backbone else 0.0)


def check_gpu(batch_size: int, bf16_backbone: bool, free_gib: list[float] | None = None) -> Check:
    """Each visible GPU's free memory against :func:`gpu_need_gib` (``free_gib`` replaces the query in tests)."""
    import torch

    if free_gib is None:
        if not torch.cuda.is_available():
            return Check("gpu memory", "SKIP", "no GPU visible; checked where a GPU is")
        free_gib = [torch.cuda.mem_get_info(i)[0] / GIB for i in range(torch.cuda.device_count())]
    need = gpu_need_gib(batch_size, bf16_backbone)
    short = [f"GPU {i}: {f:.1f} GiB free" for i, f in enumerate(free_gib) if f < need]
    detail = f"batch {batch_size} needs about {need:.1f} GiB per GPU (estimate from docs/benchmarks.md)"
    if short:
        return fail(
            "gpu memory",
            f"{detail}; {', '.join(short)}",
            "lower data.batch_size (and raise trainer.accumulate_grad_batches to keep the effective batch) "
            "or set model.backbone.init_args.dtype: bfloat16",
        )
    return ok("gpu memory", f"{detail}; {', '.join(f'{f:.1f}' for f in free_gib)} GiB free")
