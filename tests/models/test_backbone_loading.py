"""Backbone weights load exactly, and a reshaped tensor is named."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from stereosync.models.backbone import Backbone
from stereosync.realformat.safetensors_io import write_streaming
from stereosync.realformat.sao import make_sao_folder, small_sao_config


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    config = small_sao_config()
    return config, make_sao_folder(tmp_path_factory.mktemp("sao"), config)


def test_every_tensor_is_loaded_exactly(folder):
    config, path = folder
    state = load_file(str(path / "model.safetensors"))
    backbone = Backbone(config, weights=str(path))
    for prefix, module in (("model.model.", backbone.dit), ("pretransform.", backbone.pretransform)):
        own = module.state_dict()
        assert all(torch.equal(own[k[len(prefix) :]], v) for k, v in state.items() if k.startswith(prefix)), prefix


def test_a_reshaped_tensor_is_named(folder, tmp_path):
    config, path = folder
    state = load_file(str(path / "model.safetensors"))
    key = "model.model.transformer.layers.0.ff.ff.0.proj.bias"
    state[key] = state[key][:-1]
    write_streaming(tmp_path / "model.safetensors", state)
    with pytest.raises(RuntimeError, match=r"transformer\.layers\.0\.ff\.ff\.0\.proj\.bias"):
        Backbone(config, weights=str(tmp_path))
