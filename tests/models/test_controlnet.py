"""ControlNet: exact identity at initialisation, hooks really wired, CFG batch doubling, checkpointing."""

from __future__ import annotations

import pytest
import torch

from stereosync.models.encoders import BoxEncoder, ClapEncoder, DepthEncoder
from stereosync.models.envelope_control import EnvelopeControl
from stereosync.models.stereosync import StereoSyncModel


@pytest.fixture
def model(tiny_backbone):
    torch.manual_seed(1)
    m = StereoSyncModel(
        tiny_backbone,
        DepthEncoder(128, source="maps"),
        BoxEncoder(128, num_objects=2),
        ClapEncoder(128),
        EnvelopeControl(),
        controlnet_depth_factor=0.5,
        controlnet_checkpointing=False,
    )
    return m


def _inputs(model, batch):
    cond = model.condition(batch)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(cond.control.shape, generator=g)
    t = torch.rand(x.shape[0], generator=g)
    return x, t, cond


def test_controlnet_copies_first_blocks_from_backbone(model, tiny_backbone):
    assert model.controlnet.num_blocks == 2
    for i in range(2):
        for (k, a), b in zip(
            model.controlnet.dit.transformer.layers[i].state_dict().items(),
            tiny_backbone.blocks[i].state_dict().values(),
        ):
            assert torch.equal(a, b), k
    assert all(p.requires_grad for p in model.controlnet.parameters())


@pytest.mark.parametrize("cfg_scale", [1.0, 2.0])
def test_initial_output_equals_frozen_backbone_exactly(model, tiny_backbone, tiny_batch, cfg_scale):
    x, t, cond = _inputs(model, tiny_batch)
    with torch.no_grad():
        ours = model(x, t, cond, cfg_scale=cfg_scale)
        ref = tiny_backbone(x, t, cond.tokens, cond.global_cond, cfg_scale=cfg_scale)
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("cfg_scale", [1.0, 2.0])
def test_nonzero_control_changes_output_and_follows_cfg_doubling(model, tiny_backbone, tiny_batch, cfg_scale):
    """Once the zero layers move, the residuals reach the frozen blocks (also when CFG doubles the batch)."""
    with torch.no_grad():
        for layer in [model.controlnet.input_conv, *model.controlnet.block_outs]:
            layer.weight.normal_(0, 0.02)
    x, t, cond = _inputs(model, tiny_batch)
    with torch.no_grad():
        ours = model(x, t, cond, cfg_scale=cfg_scale)
        ref = tiny_backbone(x, t, cond.tokens, cond.global_cond, cfg_scale=cfg_scale)
        # sample 0 alone gives the same result as in the batch: residuals are matched to their sample
        single = model(x[:1], t[:1], type(cond)(cond.tokens[:1], cond.global_cond[:1], cond.control[:1]), cfg_scale)
    assert not torch.allclose(ours, ref)
    assert torch.allclose(single, ours[:1], atol=1e-5)


def _pre_hooks(backbone) -> list[int]:
    return [len(block._forward_pre_hooks) for block in backbone.blocks]


def test_controlnets_share_one_set_of_hooks_and_the_last_to_close_removes_it(tiny_batch):
    from stereosync.models.backbone import Backbone
    from stereosync.models.controlnet import ControlNet

    torch.manual_seed(0)
    backbone = Backbone("tiny", latent_scale=10.0, activation_checkpointing=False)
    m = StereoSyncModel(backbone, None, BoxEncoder(128, num_objects=2), None, EnvelopeControl(), 0.5, False)
    x, t, cond = _inputs(m, tiny_batch)
    with ControlNet(backbone, depth_factor=0.5, activation_checkpointing=False) as net:
        assert _pre_hooks(backbone) == [1] * backbone.depth  # one set, however many ControlNets
        m.controlnet.close()
        with torch.no_grad():
            for layer in net.block_outs:
                layer.bias.fill_(1.0)
            residuals = net(x, t, cond.control, cond.tokens, cond.global_cond)
            ref = backbone(x, t, cond.tokens, cond.global_cond)
            ours = backbone(x, t, cond.tokens, cond.global_cond, stereosync_control=residuals)
        assert _pre_hooks(backbone) == [1] * backbone.depth and not torch.allclose(ours, ref)
    assert _pre_hooks(backbone) == [0] * backbone.depth
    net.close()  # closing twice is harmless
    with torch.no_grad():  # detached: the backbone runs unmodified
        assert torch.equal(backbone(x, t, cond.tokens, cond.global_cond), ref)


def test_activation_checkpointing_gives_identical_gradients(tiny_backbone, tiny_batch):
    """Residuals travel as block arguments, so checkpoint recomputation sees the same control."""
    grads = []
    for ckpt in (False, True):
        torch.manual_seed(1)
        tiny_backbone.activation_checkpointing = ckpt
        m = StereoSyncModel(
            tiny_backbone,
            None,
            BoxEncoder(128, num_objects=2),
            None,
            EnvelopeControl(),
            controlnet_depth_factor=0.5,
            controlnet_checkpointing=ckpt,
        )
        with torch.no_grad():
            for layer in [m.controlnet.input_conv, *m.controlnet.block_outs]:
                layer.weight.normal_(0, 0.05, generator=torch.Generator().manual_seed(5))
        x, t, cond = _inputs(m, tiny_batch)
        m(x, t, cond).square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.trainable_parameters() if p.grad is not None]))
    tiny_backbone.activation_checkpointing = False
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-7)


def test_frame_time_gives_latent_frames_their_absolute_time(model, tiny_backbone, tiny_batch):
    """With identical content in every latent frame, only the frame-time input makes the residuals differ over
    time; switched off (paper-faithful) the frames stay indistinguishable."""
    from stereosync.models.controlnet import ControlNet

    cond = model.condition(tiny_batch)
    x = torch.ones_like(cond.control)  # the same latent in every frame
    control = torch.zeros_like(cond.control)
    t = torch.full((x.shape[0],), 0.5)
    outs = {}
    for frame_time in (True, False):
        torch.manual_seed(2)
        net = ControlNet(tiny_backbone, depth_factor=0.5, activation_checkpointing=False, frame_time=frame_time)
        with torch.no_grad():
            for layer in [net.input_conv, *net.block_outs] + ([net.time_conv] if frame_time else []):
                layer.weight.normal_(0, 0.1)  # as after training: the zero layers have moved
        assert (net.time_conv is not None) == frame_time
        with torch.no_grad():
            res = net(x, t, control, None, cond.global_cond)[-1][:, 1:]  # drop the prepended global token
        outs[frame_time] = res
    spread = {k: (v - v.mean(1, keepdim=True)).abs().max().item() for k, v in outs.items()}
    assert spread[False] < 1e-4 < 0.01 < spread[True]


def _output_residual_model(backbone, checkpointing: bool = False) -> StereoSyncModel:
    torch.manual_seed(1)
    return StereoSyncModel(
        backbone,
        boxes=BoxEncoder(128, num_objects=2),
        envelope=EnvelopeControl(),
        controlnet_depth_factor=0.5,
        controlnet_checkpointing=checkpointing,
        controlnet_output_residual=True,
    )


@pytest.mark.parametrize("cfg_scale", [1.0, 2.0])
def test_output_residual_starts_at_zero_and_then_enters_after_the_last_block(tiny_backbone, tiny_batch, cfg_scale):
    model = _output_residual_model(tiny_backbone)
    x, t, cond = _inputs(model, tiny_batch)
    with torch.no_grad():
        assert torch.equal(model(x, t, cond, cfg_scale), tiny_backbone(x, t, cond.tokens, cond.global_cond, cfg_scale))
        model.controlnet.output_out.weight.normal_(0, 0.05)
        once = model(x, t, cond, cfg_scale) - tiny_backbone(x, t, cond.tokens, cond.global_cond, cfg_scale)
        model.controlnet.output_out.weight.mul_(2)
        model.controlnet.output_out.bias.mul_(2)
        twice = model(x, t, cond, cfg_scale) - tiny_backbone(x, t, cond.tokens, cond.global_cond, cfg_scale)
    # only the block residuals pass the frozen (non-linear) blocks; after the last one the output head is affine
    assert once.abs().max() > 1e-3
    assert torch.allclose(twice, 2 * once, atol=1e-4)


def test_output_residual_under_activation_checkpointing_gives_the_same_gradients(tiny_backbone, tiny_batch):
    grads = []
    for checkpointing in (False, True):
        tiny_backbone.activation_checkpointing = checkpointing
        model = _output_residual_model(tiny_backbone, checkpointing)
        with torch.no_grad():
            for layer in [model.controlnet.output_out, *model.controlnet.block_outs]:
                layer.weight.normal_(0, 0.05)
        x, t, cond = _inputs(model, tiny_batch)
        model(x, t, cond).pow(2).mean().backward()
        grads.append(model.controlnet.output_out.weight.grad.clone())
        model.controlnet.close()
    tiny_backbone.activation_checkpointing = False
    assert grads[0].abs().sum() > 0 and torch.allclose(grads[0], grads[1], atol=1e-6)


def test_input_gain_scales_the_input_convs_only(tiny_backbone, tiny_batch):
    def build(gain: float) -> StereoSyncModel:
        torch.manual_seed(1)
        return StereoSyncModel(
            tiny_backbone,
            boxes=BoxEncoder(128, num_objects=2),
            envelope=EnvelopeControl(),
            controlnet_depth_factor=0.5,
            controlnet_checkpointing=False,
            controlnet_input_gain=gain,
        )

    plain, gained = build(1.0), build(10.0)
    x, t, cond = _inputs(plain, tiny_batch)
    with torch.no_grad():
        assert torch.equal(gained(x, t, cond), tiny_backbone(x, t, cond.tokens, cond.global_cond))  # zero-initialised
        for model in (plain, gained):
            torch.manual_seed(5)
            for layer in [model.controlnet.input_conv, model.controlnet.time_conv, *model.controlnet.block_outs]:
                layer.weight.normal_(0, 0.02)
        for layer in (plain.controlnet.input_conv, plain.controlnet.time_conv):  # what the gain does by hand
            layer.weight.mul_(10.0)
            layer.bias.mul_(10.0)
        assert torch.allclose(gained(x, t, cond), plain(x, t, cond), atol=1e-5)
    with pytest.raises(ValueError, match="input_gain"):
        build(0.0)
