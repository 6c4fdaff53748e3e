"""``python -m stereosync.models.export_backbone``: a pretraining checkpoint → SAO-layout safetensors that load."""

from __future__ import annotations

import pytest
import torch

from stereosync.models.backbone import Backbone
from stereosync.models.export_backbone import backbone_state, main


def fake_checkpoint(path, backbone: Backbone) -> None:
    """A Lightning checkpoint as a pretraining run (``frozen: false``) saves it: backbone + other keys."""
    state = {f"model.backbone.dit.{k}": v + 0.5 for k, v in backbone.dit.state_dict().items()}
    state |= {f"model.backbone.conditioner.{k}": v.clone() for k, v in backbone.conditioner.state_dict().items()}
    state["model.controlnet.zero.weight"] = torch.zeros(1)  # not the backbone's: left out
    torch.save({"state_dict": state, "global_step": 3}, path)


def test_exported_weights_load_into_the_backbone(tmp_path, tiny_backbone):
    fake_checkpoint(tmp_path / "last.ckpt", tiny_backbone)
    out = main([str(tmp_path / "last.ckpt"), str(tmp_path / "w" / "tiny.safetensors")])
    loaded = Backbone("tiny", weights=str(out), latent_scale=10.0)
    for k, v in tiny_backbone.dit.state_dict().items():
        assert torch.equal(loaded.dit.state_dict()[k], v + 0.5), k
    for k, v in tiny_backbone.conditioner.state_dict().items():
        assert torch.equal(loaded.conditioner.state_dict()[k], v), k


def test_key_layout_is_sao_s():
    one = torch.ones(1)
    state = backbone_state({"model.backbone.dit.a.weight": one, "model.backbone.conditioner.b": one})
    assert set(state) == {"model.model.a.weight", "conditioner.b"}


def test_a_frozen_backbone_checkpoint_is_refused():
    with pytest.raises(ValueError, match="no backbone weights"):
        backbone_state({"model.controlnet.x": torch.ones(1)})


def test_the_clap_projection_of_a_pretraining_run_starts_the_recipe_s(tmp_path, tiny_backbone):
    from stereosync.models.encoders import ClapEncoder

    fake_checkpoint(tmp_path / "last.ckpt", tiny_backbone)
    state = torch.load(tmp_path / "last.ckpt", weights_only=False)
    trained = ClapEncoder(128)
    state["state_dict"] |= {f"model.clap.{k}": v + 1.0 for k, v in trained.state_dict().items()}
    torch.save(state, tmp_path / "last.ckpt")
    main([str(tmp_path / "last.ckpt"), str(tmp_path / "bb.safetensors"), "--clap", str(tmp_path / "clap.safetensors")])
    started = ClapEncoder(128, weights=str(tmp_path / "clap.safetensors"))
    for k, v in trained.state_dict().items():
        assert torch.equal(started.state_dict()[k], v + 1.0), k
    assert started.proj.weight.requires_grad  # a start, not a frozen layer
    wrong_width = r"clap\.safetensors: proj\.weight is \(128, 512\), model\.clap needs \(64, 512\)"
    with pytest.raises(ValueError, match=wrong_width):
        ClapEncoder(64, weights=str(tmp_path / "clap.safetensors"))
    with pytest.raises(ValueError, match=r"bb\.safetensors: the file holds .*export_backbone CKPT OUT --clap FILE"):
        ClapEncoder(128, weights=str(tmp_path / "bb.safetensors"))


def test_clap_export_of_a_run_without_the_stream_is_refused_before_writing(tmp_path, tiny_backbone):
    fake_checkpoint(tmp_path / "last.ckpt", tiny_backbone)
    with pytest.raises(ValueError, match=r"last\.ckpt: the run has no CLAP projection"):
        main([str(tmp_path / "last.ckpt"), str(tmp_path / "bb.safetensors"), "--clap", str(tmp_path / "c.safetensors")])
    assert not (tmp_path / "bb.safetensors").exists() and not (tmp_path / "c.safetensors").exists()
