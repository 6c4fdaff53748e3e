"""``model.clip_in_optimizer``: where the clip goes into fused AdamW and where it falls back to the multiply.

The weights it produces are compared with the multiply path in ``tests/reliability/test_guards.py``.
"""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from helpers import tiny_module
from lightning.pytorch.plugins.precision import MixedPrecision


class _Trainer:
    """Only what ``configure_gradient_clipping`` reads of a trainer: its strategy and precision plugin."""

    def __init__(self, plugin):
        self.precision_plugin = plugin
        self.strategy = pl.strategies.SingleDeviceStrategy(torch.device("cpu"))


@pytest.fixture
def module_with_grads(tiny_backbone):
    module = tiny_module(tiny_backbone)
    for p in module.model.trainable_parameters():
        p.grad = torch.randn_like(p)
    return module


def _clip(module, optimizer, clip=1e-3, trainer=None):
    module.on_before_optimizer_step(optimizer)  # the guard's norm (it would log through a real trainer)
    module._trainer = trainer
    module.configure_gradient_clipping(optimizer, clip, "norm")


def test_fused_adamw_takes_the_clip_as_its_grad_scale(module_with_grads):
    module = module_with_grads
    optimizer = module.configure_optimizers()
    grads = [p.grad.clone() for p in module.model.trainable_parameters()]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    _clip(module, optimizer)
    assert float(optimizer.grad_scale) == pytest.approx((float(norm) + 1e-6) / 1e-3, rel=1e-6)
    assert all(torch.equal(p.grad, g) for p, g in zip(module.model.trainable_parameters(), grads))  # untouched
    optimizer.step()
    assert "grad_scale" not in optimizer.__dict__  # dropped after the step


@pytest.mark.parametrize(
    "make_optimizer, plugin",
    [
        (lambda params: torch.optim.AdamW(params, fused=False, foreach=True), None),
        (lambda params: torch.optim.SGD(params, lr=0.1), None),
        (lambda params: torch.optim.AdamW(params, fused=True), "16-mixed"),
    ],
    ids=["unfused-adamw", "sgd", "grad-scaler"],
)
def test_other_optimisers_and_a_grad_scaler_get_the_multiply(module_with_grads, make_optimizer, plugin):
    module = module_with_grads
    params = module.model.trainable_parameters()
    optimizer = make_optimizer(params)
    grads = [p.grad.clone() for p in params]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    # Lightning's fp16 plugin owns the optimiser's grad_scale through its GradScaler
    trainer = _Trainer(MixedPrecision(plugin, "cpu", torch.amp.GradScaler("cpu"))) if plugin else None
    _clip(module, optimizer, trainer=trainer)
    assert "grad_scale" not in optimizer.__dict__
    coef = 1e-3 / (float(norm) + 1e-6)
    for p, g in zip(params, grads):
        torch.testing.assert_close(p.grad, g * coef)


def test_switched_off_it_multiplies(tiny_backbone):
    module = tiny_module(tiny_backbone, clip_in_optimizer=False)
    for p in module.model.trainable_parameters():
        p.grad = torch.ones_like(p)
    optimizer = module.configure_optimizers()
    _clip(module, optimizer)
    assert "grad_scale" not in optimizer.__dict__
    assert all(float(p.grad.abs().max()) < 1.0 for p in module.model.trainable_parameters())
