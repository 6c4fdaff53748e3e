"""ClapAudioEncoder: the real laion_clap audio branch, built offline, loading official-format checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stereosync.clap import ClapAudioEncoder


class _NotATensor:
    """An arbitrary pickled object, which torch.load(weights_only=True) must refuse."""


def _official_style_checkpoint(encoder: ClapAudioEncoder) -> dict:
    """Like LAION's files: a dict with 'state_dict', DDP 'module.' prefixes and a text branch we must ignore."""
    state = {f"module.{k}": v.clone() for k, v in encoder.model.state_dict().items()}
    state["module.text_branch.embeddings.word_embeddings.weight"] = torch.zeros(3, 2)
    return {"epoch": 45, "name": "630k-audioset-fusion", "state_dict": state}


def test_forward_shapes_norm_and_numpy_api(clap_encoder):
    assert (clap_encoder.sample_rate, clap_encoder.dim, clap_encoder.training) == (48000, 512, False)
    g = torch.Generator().manual_seed(0)
    audio = 0.1 * torch.randn(2, 2, 88_200, generator=g)  # 2 s stereo at 44.1 kHz
    emb = clap_encoder(audio, 44100)
    assert emb.shape == (2, 512) and emb.dtype == torch.float32
    assert torch.allclose(emb.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert not emb.requires_grad
    single = clap_encoder.embed_numpy(audio[1].numpy(), 44100)
    assert single.shape == (512,) and single.dtype == np.float32
    np.testing.assert_allclose(single, emb[1].numpy(), atol=1e-5)  # batch-independent (eval mode)


def test_loads_official_checkpoint_format(clap_encoder, tmp_path):
    path = tmp_path / "clap.pt"
    torch.save(_official_style_checkpoint(clap_encoder), path)
    torch.manual_seed(123)  # a different random init, overwritten by the checkpoint
    loaded = ClapAudioEncoder(checkpoint=str(path))
    audio = 0.1 * torch.randn(1, 1, 48_000)
    assert torch.allclose(loaded(audio, 48000), clap_encoder(audio, 48000), atol=1e-6)

    # a checkpoint of the other architecture (no fusion weights) is refused, not half-loaded
    ckpt = _official_style_checkpoint(clap_encoder)
    ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if "fusion_model" not in k}
    torch.save(ckpt, tmp_path / "nofusion.pt")
    with pytest.raises(RuntimeError, match="missing audio keys"):
        loaded.load_checkpoint(str(tmp_path / "nofusion.pt"))

    torch.save({"state_dict": {}, "extra": _NotATensor()}, tmp_path / "pickled.pt")
    with pytest.raises(RuntimeError, match="weights_only"):
        loaded.load_checkpoint(str(tmp_path / "pickled.pt"))


def test_rejects_clips_longer_than_ten_seconds(clap_encoder):
    with pytest.raises(ValueError, match="10"):
        clap_encoder(torch.zeros(1, 1, 11 * 16000), 16000)


def test_missing_laion_clap_names_the_package(monkeypatch):
    import importlib.util
    import sys

    from stereosync import clap

    monkeypatch.delitem(sys.modules, clap._CLAP_MODULE_ALIAS, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ImportError, match="laion-clap"):
        ClapAudioEncoder()


def test_input_handling_equals_laion_clap_reference_path(clap_encoder):
    """Our batched input pipeline vs laion_clap's own get_audio_features + int16 quantisation (fusion, ≤ 10 s)."""
    # top-level laion_clap import: needs HF_HUB_OFFLINE=1 (tests/conftest.py sets it), else it tries the hub
    data = pytest.importorskip("laion_clap.training.data")
    wave = (0.2 * np.random.default_rng(0).standard_normal(96_000)).astype(np.float32)  # 2 s at 48 kHz
    quantised = torch.from_numpy(data.int16_to_float32(data.float32_to_int16(wave))).float()
    features = data.get_audio_features(
        {}, quantised, 480_000, data_truncating="fusion", data_filling="repeatpad", audio_cfg=clap_encoder.audio_cfg
    )
    expected = clap_encoder.model.get_audio_embedding([features])
    assert torch.allclose(clap_encoder(torch.from_numpy(wave)[None, None], 48000), expected, atol=1e-6)
