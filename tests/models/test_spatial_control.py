"""Spatial control (boxes on the latent grid into the ControlNet) and guidance on the spatial tokens only."""

from __future__ import annotations

import pytest
import torch

from stereosync.models.encoders import BoxEncoder, ClapEncoder, DepthEncoder
from stereosync.models.envelope_control import EnvelopeControl
from stereosync.models.sampling import Sampler
from stereosync.models.spatial_control import SpatialControl, to_latent_grid
from stereosync.models.stereosync import StereoSyncModel
from stereosync.motion import num_features


def _model(backbone, spatial: SpatialControl | None) -> StereoSyncModel:
    torch.manual_seed(1)
    return StereoSyncModel(
        backbone,
        DepthEncoder(128, source="maps"),
        BoxEncoder(128, num_objects=2),
        ClapEncoder(128),
        EnvelopeControl(),
        controlnet_depth_factor=0.5,
        controlnet_checkpointing=False,
        spatial_control=spatial,
    )


def _inputs(model, batch):
    cond = model.condition(batch)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(cond.control.shape, generator=g)
    return x, torch.rand(x.shape[0], generator=g), cond


def test_spatial_control_starts_as_the_plain_model_and_then_moves_the_output(tiny_backbone, tiny_batch):
    plain, spatial = _model(tiny_backbone, None), _model(tiny_backbone, SpatialControl(num_objects=2))
    spatial.load_state_dict(plain.state_dict(), strict=False)  # the same ControlNet and projections
    x, t, cond = _inputs(spatial, tiny_batch)
    assert cond.spatial.shape == (2, 64, 60)  # box rate: 2 s at 30 fps
    with torch.no_grad():
        assert torch.equal(spatial(x, t, cond), plain(x, t, plain.condition(tiny_batch)))  # zero-initialised

    # gradients reach the box features through the zero conv's first step, and the boxes then move the output
    spatial.controlnet.block_outs[0].weight.data.normal_(0, 0.02)
    loss = spatial(x, t, cond).pow(2).mean()
    loss.backward()
    assert spatial.controlnet.spatial_conv.weight.grad.abs().sum() > 0
    with torch.no_grad():
        spatial.controlnet.spatial_conv.weight.normal_(0, 0.02)
        moved = dict(tiny_batch, boxes=tiny_batch["boxes"].flip(-1))
        a = spatial(x, t, spatial.condition(tiny_batch))
        b = spatial(x, t, spatial.condition(moved))
    assert not torch.allclose(a, b)


def test_features_follow_the_box_in_time_and_ignore_absent_boxes():
    sc = SpatialControl(num_objects=2)
    boxes = torch.zeros(1, 60, 2, 4)
    boxes[..., 0], boxes[..., 2] = 0.1, 0.3  # centre x 0.2 → pan units -0.6
    mask = torch.zeros(1, 60, 2, dtype=torch.bool)
    mask[:, :30, 0] = True  # object 0 in the first second only; object 1 never
    rows = sc.rows(boxes, mask, None)  # (1, 60, 2 objects × 5)
    assert torch.allclose(rows[0, :30, 1], torch.full((30,), -0.6))
    assert torch.equal(rows[0, 30:], torch.zeros(30, 10))  # an absent box is zeros, whatever its stored numbers
    assert torch.equal(rows[0, :, 5:], torch.zeros(60, 5))
    grid = to_latent_grid(rows.transpose(1, 2), 125)  # 2 s of box frames onto 125 latent frames
    assert grid.shape == (1, 10, 125)
    assert torch.allclose(grid[0, 1, :60], torch.full((60,), -0.6)) and torch.equal(grid[0, 1, 64:], torch.zeros(61))


def test_motion_columns_are_read_per_object_and_checked():
    sc = SpatialControl(num_objects=2, motion=True)
    assert sc.batch_keys == ("boxes", "box_mask", "motion")
    assert [len(cols) for cols in sc.motion_cols] == [6, 6]
    boxes, mask = torch.rand(1, 60, 2, 4), torch.ones(1, 60, 2, dtype=torch.bool)
    motion = torch.zeros(1, 60, num_features(2))
    motion[..., sc.motion_cols[1][0]] = 3.0  # only object 1's first motion column moves
    rows = sc.rows(boxes, mask, motion).view(1, 60, 2, -1)
    assert torch.allclose(rows[..., 1, 5], torch.full((1, 60), torch.log1p(torch.tensor(3.0)).item()))
    assert torch.equal(rows[..., 0, 5:], torch.zeros(1, 60, 6))
    with pytest.raises(KeyError, match="'motion'"):
        sc.rows(boxes, mask, None)
    with pytest.raises(ValueError, match="motion"):
        sc.rows(boxes, mask, motion[..., :5])


def test_a_sample_tracking_other_objects_is_refused_with_its_key(tiny_backbone):
    model = StereoSyncModel(tiny_backbone, envelope=EnvelopeControl(), spatial_control=SpatialControl(num_objects=3))
    sample = {
        "__url__": "shard-000.tar",
        "__key__": "scene7_chunk1",
        "json": {"sample_rate": tiny_backbone.sample_rate},
        "boxes": torch.rand(60, 2, 4),
        "box_mask": torch.ones(60, 2, dtype=torch.bool),
    }
    with pytest.raises(ValueError, match=r"shard-000.tar, sample scene7_chunk1.*spatial_control.init_args.num_objects"):
        model.check_sample(sample)
    with pytest.raises(ValueError, match="needs model.envelope"):
        StereoSyncModel(tiny_backbone, spatial_control=SpatialControl())


@pytest.fixture(scope="module")
def pretrained_backbone():
    """The shipped tiny backbone: its cross-attention reads tokens (a random DiT's starts at zero)."""
    from stereosync.models.backbone import Backbone

    return Backbone(
        "tiny_ps", weights="pkg://stereosync/weights/tiny_ps_backbone.safetensors", activation_checkpointing=False
    )


def test_spatial_guidance_contrasts_with_the_tokens_minus_the_spatial_streams(pretrained_backbone, tiny_batch):
    tiny_backbone = pretrained_backbone
    model = _model(tiny_backbone, None)
    x, t, cond = _inputs(model, tiny_batch)
    assert cond.spatial_tokens == 8 + 120  # 4-fps depth maps (2 s) + 30-fps boxes × 2 objects
    negative = cond.guidance_negative("spatial")
    assert torch.equal(negative[:, :128], torch.zeros_like(negative[:, :128]))
    assert torch.equal(negative[:, 128:], cond.tokens[:, 128:])  # CLAP and seconds tokens kept
    assert cond.guidance_negative("all") is None
    with torch.no_grad():
        null_guided = model(x, t, cond, cfg_scale=3.0)
        spatial_guided = model(x, t, cond, cfg_scale=3.0, guidance="spatial")
        # what the DiT's batched CFG computes with the explicit negative: cond + 3 · (cond − negative)
        with_tokens = tiny_backbone(x, t, cond.tokens, cond.global_cond)
        without = tiny_backbone(x, t, negative, cond.global_cond)
    assert not torch.allclose(null_guided, spatial_guided)
    assert torch.allclose(spatial_guided, without + 3.0 * (with_tokens - without), atol=1e-4)
    with pytest.raises(ValueError, match="guidance"):
        Sampler(guidance="clap")


def test_guided_spatial_control_is_dropped_with_the_tokens_and_absent_from_the_negative_branch(
    pretrained_backbone, tiny_batch
):
    model = _model(pretrained_backbone, SpatialControl(num_objects=2, guided=True))
    with torch.no_grad():  # a trained-like ControlNet whose boxes move the output
        model.controlnet.spatial_conv.weight.normal_(0, 0.05)
        for out in model.controlnet.block_outs:
            out.weight.normal_(0, 0.02)
    x, t, cond = _inputs(model, tiny_batch)
    assert cond.spatial_guided
    null = cond.drop_tokens(1.0)
    assert torch.equal(null.spatial, torch.zeros_like(cond.spatial)) and not null.tokens.any()
    some = cond.drop_tokens(0.5, torch.Generator().manual_seed(0))  # one draw per sample for both
    kept_tokens = some.tokens.flatten(1).any(1)
    assert torch.equal(kept_tokens, some.spatial.flatten(1).any(1)) and kept_tokens.any() and not kept_tokens.all()
    with torch.no_grad():
        guided = model(x, t, cond, cfg_scale=3.0)
        conditional, negative = model(x, t, cond), model(x, t, null)
        plain = _model(pretrained_backbone, SpatialControl(num_objects=2))
        plain.load_state_dict(model.state_dict())
        tokens_only = plain(x, t, plain.condition(tiny_batch), cfg_scale=3.0)  # the same weights, not guided
    assert torch.allclose(guided, negative + 3.0 * (conditional - negative), atol=1e-4)
    assert not torch.allclose(guided, tokens_only, atol=1e-3)
