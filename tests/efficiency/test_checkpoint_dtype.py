"""checkpoint_dtype=bfloat16: trainable weights stored in bf16 (half the bytes), loaded back as fp32."""

from __future__ import annotations

import torch
from helpers import tiny_module

from stereosync.lightning_module import StereoSync
from stereosync.training.checkpointing import BACKBONE_PREFIX


def _module(backbone, **kw) -> StereoSync:
    return tiny_module(backbone, seed=None, **kw)


def _save(module: StereoSync, path) -> dict:
    ckpt = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(ckpt)
    torch.save(ckpt, path)
    return ckpt


def test_bf16_checkpoint_round_trip(tiny_backbone, tmp_path):
    torch.manual_seed(0)
    src = _module(tiny_backbone, checkpoint_dtype="bfloat16")
    with torch.no_grad():  # move the zero layers too, so every tensor carries information
        for p in src.model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.01)
    ref = _module(tiny_backbone)  # fp32 checkpoint of the same weights, for the size comparison
    ref.load_state_dict(src.state_dict())
    small = _save(src, tmp_path / "bf16.ckpt")["state_dict"]
    _save(ref, tmp_path / "fp32.ckpt")
    assert not any(k.startswith(BACKBONE_PREFIX) for k in small)
    assert all(v.dtype == torch.bfloat16 for v in small.values() if v.is_floating_point())
    ratio = (tmp_path / "bf16.ckpt").stat().st_size / (tmp_path / "fp32.ckpt").stat().st_size
    assert 0.45 < ratio < 0.6

    torch.manual_seed(1)
    dst = _module(tiny_backbone, checkpoint_dtype="bfloat16")
    ckpt = torch.load(tmp_path / "bf16.ckpt", weights_only=True)
    dst.on_load_checkpoint(ckpt)  # Lightning's order: hook, then load_state_dict
    dst.load_state_dict(ckpt["state_dict"])
    for name, p in dst.model.named_parameters():
        if p.requires_grad:
            assert p.dtype == torch.float32, name
            expected = dict(src.model.named_parameters())[name].detach().bfloat16().float()
            assert torch.equal(p.detach(), expected), name
