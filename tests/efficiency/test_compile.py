"""compile=True: the DiTs are torch.compile'd in place; one training step runs on a CPU, keys do not change."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_module

from stereosync.lightning_module import StereoSync
from stereosync.models.backbone import Backbone


def _module(compile: bool) -> StereoSync:
    torch.manual_seed(0)
    backbone = Backbone("tiny", latent_scale=10.0, activation_checkpointing=False)  # own: compile mutates it
    return tiny_module(backbone, seed=None, controlnet_checkpointing=False, cfg_dropout=0.0, compile=compile)


def test_compile_switch_is_lazy_and_keeps_checkpoint_keys():
    eager, compiled = _module(False), _module(True)
    assert eager.backbone.dit._compiled_call_impl is None
    assert compiled.backbone.dit._compiled_call_impl is not None
    assert compiled.model.controlnet.dit._compiled_call_impl is not None
    assert eager.state_dict().keys() == compiled.state_dict().keys()


@pytest.mark.slow  # inductor compiles forward and backward of two DiTs: 2-3 minutes on 2 busy CPU cores
def test_compiled_training_step_matches_eager(tiny_batch):
    eager, compiled = _module(False), _module(True)
    t = torch.tensor([0.3, 0.6])
    losses = []
    for module in (eager, compiled):
        opt = module.configure_optimizers()
        loss = module.loss(tiny_batch, t, noise_generator=torch.Generator().manual_seed(0))
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-4, atol=1e-6)
    grads = [p.grad for p in compiled.model.trainable_parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
