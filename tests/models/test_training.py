"""The LightningModule: only trainable parts move, the backbone gets no gradients, checkpoints hold no backbone."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_module

from stereosync.lightning_module import StereoSync
from stereosync.models.encoders import DepthEncoder
from stereosync.training.checkpointing import BACKBONE_PREFIX


def _module(backbone, **kw):
    return tiny_module(backbone, **({"controlnet_checkpointing": False} | kw))


@pytest.fixture
def module(tiny_backbone):
    m = _module(tiny_backbone)
    return m


def test_optimizer_step_moves_only_trainable_parts(module, tiny_batch):
    before = {k: v.clone() for k, v in module.state_dict().items()}
    opt = module.configure_optimizers()
    optimised = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not any(id(p) in optimised for p in module.backbone.parameters())
    for _ in range(2):  # the zero layers open up in step 1, so step 2 moves everything behind them too
        opt.zero_grad()
        loss = module.loss(tiny_batch, torch.full((2,), 0.5))
        loss.backward()
        assert all(p.grad is None for p in module.backbone.parameters())
        opt.step()
    after = module.state_dict()
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    assert changed and not any(k.startswith(BACKBONE_PREFIX) for k in changed)
    for prefix in (
        "model.controlnet.input_conv",
        "model.controlnet.block_outs",
        "model.controlnet.dit.transformer",
        "model.depth.",
        "model.boxes.",
        "model.clap.",
    ):
        assert any(k.startswith(prefix) for k in changed), prefix


def test_checkpoint_holds_trainable_weights_only_and_reloads(module, tiny_backbone, tmp_path):
    ckpt = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(ckpt)
    keys = set(ckpt["state_dict"])
    trainable = {k for k, _ in module.named_parameters() if not k.startswith(BACKBONE_PREFIX)}
    assert trainable <= keys
    assert not any(k.startswith(BACKBONE_PREFIX) for k in keys)
    fresh = _module(tiny_backbone, depth=None)  # a model with a stream switched off cannot take this checkpoint
    with pytest.raises(RuntimeError, match="unexpected keys"):
        fresh.load_state_dict(ckpt["state_dict"])
    same = _module(tiny_backbone)
    same.load_state_dict(ckpt["state_dict"])


def test_cfg_dropout_nulls_whole_samples_but_keeps_the_envelope(module, tiny_batch):
    cond = module.model.condition(tiny_batch)
    dropped = cond.drop_tokens(1.0)
    assert torch.count_nonzero(dropped.tokens) == 0
    assert torch.equal(dropped.control, cond.control)
    assert cond.drop_tokens(0.0) is cond


def test_stream_width_mismatch_is_a_startup_error(tiny_backbone):
    with pytest.raises(ValueError, match=r"model.depth.dim = 768 .*\(cond_token_dim\) is 128"):
        StereoSync(tiny_backbone, depth=DepthEncoder(768, source="maps"))


def test_validation_loss_is_deterministic(module, tiny_batch):
    a = module.validation_step(tiny_batch, 0)
    b = module.validation_step(tiny_batch, 0)
    assert torch.equal(a, b)
