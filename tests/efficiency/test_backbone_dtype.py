"""A bf16 frozen backbone with fp32 trainable parts runs forward/backward on a CPU; grads stay fp32."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_module

from stereosync.models.backbone import Backbone


@pytest.fixture(scope="module")
def bf16_backbone():
    torch.manual_seed(0)
    return Backbone("tiny", latent_scale=10.0, activation_checkpointing=True, dtype="bfloat16")


def test_bf16_backbone_trains_fp32_parts(bf16_backbone, tiny_batch):
    assert all(p.dtype == torch.bfloat16 for p in bf16_backbone.dit.parameters())
    assert all(p.dtype == torch.float32 for p in bf16_backbone.pretransform.parameters())
    module = tiny_module(bf16_backbone)
    trainable = module.model.trainable_parameters()
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    opt = module.configure_optimizers()
    for _ in range(2):  # step 2: the zero layers have opened, gradients reach every trainable part
        opt.zero_grad()
        loss = module.loss(tiny_batch, torch.tensor([0.2, 0.7]))
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        loss.backward()
        opt.step()
    grads = [p.grad for p in trainable if p.grad is not None]
    assert len(grads) == len(trainable)
    assert all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    assert all(p.grad is None for p in bf16_backbone.parameters())
    with torch.no_grad():
        cond = module.model.condition(tiny_batch)
        out = module.model(torch.randn_like(cond.control), torch.full((2,), 0.5), cond)
    assert out.dtype == torch.float32


def test_bf16_backbone_must_be_frozen():
    with pytest.raises(ValueError, match="needs frozen=True"):
        Backbone("tiny", frozen=False, dtype="bfloat16")
