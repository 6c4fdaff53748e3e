"""The shipped tiny checkpoint: small, and a fresh process loads it into the tiny recipe offline and generates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = "pkg://stereosync/weights/tiny_full_2800.safetensors"

SCRIPT = f"""
import json, torch
from safetensors.torch import load_file
from stereosync.cli import cli_main
from stereosync.data import pipeline
from stereosync.data.synthetic import generate_scene, scene_to_samples
from stereosync.models.trainable_weights import load_trainable
from stereosync.resources import resolve_path

cli = cli_main(["--config", "configs/tiny.yaml", "--trainer.logger=false", "--trainer.callbacks=[]",
                "--model.sampler.steps=4"], run=False)
module = cli.model.eval()
before = {{k: v.clone() for k, v in module.state_dict().items()}}
load_trainable(module, "{WEIGHTS}")
stored = load_file(str(resolve_path("{WEIGHTS}")))
after = module.state_dict()
samples = scene_to_samples(generate_scene(seed=7, duration=4.0, sample_rate=16000))
batch = pipeline.collate([pipeline.augment(s, 2.0, None, True, False) for s in samples], {{}})
audio = module.generate(batch, module.clip_seeds(batch["__key__"]))
print(json.dumps({{
    "keys_match": all(torch.equal(after[k], v.to(after[k].dtype)) for k, v in stored.items()),
    "changed": sum(not torch.equal(before[k], after[k]) for k in stored),
    "stored": len(stored),
    "shape": list(audio.shape),
    "finite": bool(torch.isfinite(audio).all()),
    "rms": float(audio.pow(2).mean().sqrt()),
}}))
"""


def test_the_shipped_weights_are_small_and_load_into_the_tiny_recipe_in_a_fresh_process():
    from stereosync.resources import resolve_path

    path = resolve_path(WEIGHTS)
    assert path.stat().st_size <= 10 * 2**20
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["keys_match"]  # the module holds the stored tensors (upcast to fp32)
    assert result["changed"] > result["stored"] // 2  # ... and they are not what it was built with
    assert result["shape"] == [2, 2, 32000] and result["finite"] and result["rms"] > 1e-3


def test_export_keeps_trainable_tensors_only_in_the_chosen_dtype_with_the_recipe(tmp_path):
    import torch
    from safetensors import safe_open

    from stereosync.models.trainable_weights import export_trainable

    ckpt = tmp_path / "last.ckpt"
    state = {
        "model.backbone.dit.w": torch.ones(3),
        "model.controlnet.w": torch.full((2, 2), 1 / 3),
        "model.boxes.count": torch.tensor([4]),
    }
    torch.save({"state_dict": state, "global_step": 7, "optimizer_states": [{}]}, ckpt)
    out = export_trainable(ckpt, tmp_path / "w.safetensors", "bfloat16", {"steps": 7})
    with safe_open(str(out), "pt") as f:
        assert sorted(f.keys()) == ["model.boxes.count", "model.controlnet.w"]
        assert f.get_tensor("model.controlnet.w").dtype == torch.bfloat16
        assert f.get_tensor("model.boxes.count").dtype == torch.int64  # integers are never cast
        assert json.loads(f.metadata()["recipe"]) == {"steps": 7} and f.metadata()["global_step"] == "7"
