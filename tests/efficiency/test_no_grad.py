"""No backward through frozen parts: the envelope's VAE encoding runs without grad, backbone params get no .grad,
and the optimiser is the fused AdamW over trainable parameters only."""

from __future__ import annotations

import torch
from helpers import tiny_module


def test_envelope_encoding_runs_without_grad_and_backbone_gets_no_grad(tiny_backbone, tiny_batch, monkeypatch):
    module = tiny_module(tiny_backbone)
    grad_modes = []
    encode = tiny_backbone.pretransform.encode

    def spy(x, *args, **kwargs):
        grad_modes.append(torch.is_grad_enabled())
        return encode(x, *args, **kwargs)

    monkeypatch.setattr(tiny_backbone.pretransform, "encode", spy)
    batch = dict(tiny_batch, audio=tiny_batch["audio"].clone().requires_grad_(True))
    cond = module.model.condition(batch)
    assert grad_modes == [False] and not cond.control.requires_grad
    opt = module.configure_optimizers()
    assert opt.defaults["fused"]
    optimised = {id(p) for g in opt.param_groups for p in g["params"]}
    assert optimised == {id(p) for p in module.model.trainable_parameters()}
    for _ in range(2):
        opt.zero_grad()
        module.training_step(batch, 0).backward()
        opt.step()
    assert len(grad_modes) == 5 and not any(grad_modes)  # 1 + 2 steps × (audio latent + envelope)
    assert batch["audio"].grad is None
    assert all(not p.requires_grad and p.grad is None for p in tiny_backbone.parameters())
    assert all(p.grad is not None for p in module.model.trainable_parameters())
