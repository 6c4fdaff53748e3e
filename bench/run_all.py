"""Run every CPU benchmark and print each figure beside its goal.

    python bench/run_all.py                 # ≈ 7-10 min on 2 cores
    python bench/run_all.py --quick         # smoke: tiny training step, small FAD

Each benchmark runs in its own process, one after the other (so they do not compete for the two cores), and
writes its figures to a json file this script summarises; ``bench/fad.py`` is summarised from its printed table.
Every script's own table is printed as it runs. The GPU figures come from ``bench/gpu.py`` on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
NOISE = ("Warning", "warn(", "pkg_resources", "flash_attn", "self.log()", "WeightNorm", "no weights given")


def run(script: str, args: list[str], timeout: float) -> tuple[str, float]:
    """Run ``bench/<script>`` and stream its output (minus library noise); returns (stdout, seconds)."""
    print(f"\n=== {script} {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    lines = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        if not any(n in line for n in NOISE) and "it/s]" not in line and "s/it]" not in line:
            print(line, end="", flush=True)
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"{script} ran past {timeout:.0f} s")
    if proc.wait() != 0:
        raise RuntimeError(f"{script} failed with exit status {proc.returncode}")
    return "".join(lines), time.perf_counter() - t0


def fad_rows(out: str) -> list[tuple[str, str, str, bool]]:
    rows = []
    for stage in ("distance from (mu, Sigma)", "end to end from features"):
        m = re.search(re.escape(stage) + r"\s+\S+\s+\S+\s+([\d.]+)x\s+\S+\s+\S+\s+(\S+)", out)
        if m:
            speed, rel = float(m.group(1)), float(m.group(2))
            rows.append(
                (f"FAD vs scipy sqrtm, {stage}", f"{speed:.1f}x, rel diff {rel:.0e}", ">=10x, <=1e-6", speed >= 10)
            )
    return rows


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    rows: list[tuple[str, str, str, bool | None]] = []
    ts = results.get("train_step")
    if ts:
        for r in ts["time"]:
            name = f"train step vs bare DiT, batch {r['batch']}, ckpt {r['checkpointing']}"
            if r.get("allocator", "glibc") != "glibc":
                name += f", {r['allocator']} malloc"
            value = f"{r['ratio']:.2f}x ({r['ratio_accumulate']:.2f}x at accumulate 4)"
            rows.append((name, value, f"<={r['goal']:.2f}x", r["ratio"] <= r["goal"]))
        m = ts.get("memory")
        if m:
            for ckpt in (True, False):
                diff = m[f"ours_{ckpt}"] - m[f"ref_{ckpt}"]
                value = f"{m[f'ours_{ckpt}']:.2f} vs {m[f'ref_{ckpt}']:.2f} GiB ({diff:+.2f})"
                if f"ours_bf16_{ckpt}" in m:
                    value += f"; bf16 backbone {m[f'ours_bf16_{ckpt}'] - m[f'ref_{ckpt}']:+.2f}"
                name = f"peak memory ours vs reference, ckpt {'on' if ckpt else 'off'}"
                rows.append((name, value, "<=+2.5 GiB", diff <= 2.5))
    dl = results.get("data_loading")
    if dl:
        step = dl["step_samples_per_s"]
        for w, rate in dl["loader_samples_per_s"].items():
            ratio = rate / step
            value = f"{ratio:.0f}x ({rate:.0f} vs {step:.1f} samples/s)"
            rows.append((f"data loading, {w} workers, vs tiny step", value, ">=10x", ratio >= 10))
    rows += results.get("fad", [])
    ck = results.get("checkpoint_size")
    if ck:
        gib = 2**30
        value = f"{ck['ratio_fp32']:.3f} ({ck['trainable_float32'] / gib:.2f} of {ck['full'] / gib:.2f} GiB)"
        rows.append(("checkpoint trainable-only vs full model, fp32", value, "<=0.20", ck["ratio_fp32"] <= 0.2))
        value = f"{ck['ratio_bf16']:.3f} ({ck['trainable_bfloat16'] / gib:.2f} GiB)"
        rows.append(("checkpoint trainable-only, bf16 option", value, "<=0.20", ck["ratio_bf16"] <= 0.2))
    sp = results.get("sampling")
    if sp:
        clip = sp["clip_seconds"]
        for steps, sec in sp["seconds_per_clip"].items():
            value = f"{sec:.2f} s per {clip:g}-s clip ({sec / clip:.2f}x real time)"
            rows.append((f"tiny sampling on CPU, {steps} steps, CFG", value, "(reported)", None))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (tiny training step, small FAD)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        plan = [
            ("train_step", ["--quick"] if args.quick else [], 540),
            ("data_loading", ["--scenes", "4", "--batches", "5", "--steps", "2"] if args.quick else [], 240),
            ("checkpoint_size", [], 120),
            ("sampling", ["--repeats", "1", "--steps", "8"] if args.quick else ["--repeats", "2"], 240),
        ]
        for name, extra, timeout in plan:
            path = Path(tmp) / f"{name}.json"
            _, times[name] = run(f"{name}.py", [*extra, "--json", str(path)], timeout)
            results[name] = json.loads(path.read_text())
        fad_args = ["--n", "2000", "--repeats", "1"] if args.quick else []
        out, times["fad"] = run("fad.py", fad_args, 240)
        results["fad"] = fad_rows(out)
    rows = summary_rows(results)
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(
        f"\n=== summary ({time.perf_counter() - t0:.0f} s; per script: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
        + ")"
    )
    print(f"| {'figure':<{width}} | {'measured':<{vwidth}} | goal | met |")
    print(f"|{'-' * (width + 2)}|{'-' * (vwidth + 2)}|------|-----|")
    for name, value, goal, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"| {name:<{width}} | {value:<{vwidth}} | {goal} | {mark} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
