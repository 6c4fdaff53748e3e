"""The frozen backbone seam: architecture size, freezing, weight loading, latent round trip."""

from __future__ import annotations

import pytest
import torch

from stereosync.models.backbone import Backbone, load_model_config, strip_text_conditioning
from stereosync.models.objective import alpha_sigma


def _count(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def test_real_sao_architecture_size_on_meta_device():
    """SAO 1.0 without T5: DiT 1056.8 M, Oobleck VAE 156.1 M (numbers published with the model, see reference/)."""
    with torch.device("meta"):
        bb = Backbone("sao_1_0")
    assert _count(bb.dit) == pytest.approx(1056.8, abs=0.1)
    assert _count(bb.pretransform) == pytest.approx(156.1, abs=0.1)
    assert (bb.depth, bb.embed_dim, bb.cond_dim, bb.latent_channels, bb.downsampling_ratio) == (24, 1536, 768, 64, 2048)
    assert bb.latent_frames(88_200) == 44  # 2 s padded to 90,112 samples


def test_text_conditioner_is_dropped_and_seconds_layout_is_switchable():
    cfg = load_model_config("sao_1_0")
    with_tokens = strip_text_conditioning(cfg, seconds_as_tokens=True)["model"]
    assert [c["id"] for c in with_tokens["conditioning"]["configs"]] == ["seconds_start", "seconds_total"]
    assert with_tokens["diffusion"]["cross_attention_cond_ids"] == ["seconds_start", "seconds_total"]
    assert strip_text_conditioning(cfg, seconds_as_tokens=False)["model"]["diffusion"]["cross_attention_cond_ids"] == []


def test_backbone_is_frozen_and_stays_in_eval(tiny_backbone):
    assert not any(p.requires_grad for p in tiny_backbone.parameters())
    tiny_backbone.train()
    assert not any(m.training for m in tiny_backbone.modules())


def test_weights_load_from_safetensors_folder(tmp_path, tiny_backbone):
    from safetensors.torch import save_file

    from stereosync.models.backbone import load_model_config

    # SAO's file holds the ConditionedDiffusionModelWrapper's keys: model.model.*, conditioner.*, pretransform.*
    state = {f"model.model.{k}": v.clone() + 1.0 for k, v in tiny_backbone.dit.state_dict().items()}
    state.update({f"conditioner.{k}": v.clone() for k, v in tiny_backbone.conditioner.state_dict().items()})
    save_file(state, str(tmp_path / "model.safetensors"))
    loaded = Backbone(load_model_config("tiny"), weights=str(tmp_path), latent_scale=10.0)
    for k, v in loaded.dit.state_dict().items():
        assert torch.equal(v, tiny_backbone.dit.state_dict()[k] + 1.0), k


def test_missing_weights_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        Backbone("tiny", weights=str(tmp_path / "nowhere.safetensors"))
    with pytest.raises(FileNotFoundError, match="neither model.safetensors"):
        Backbone("tiny", weights=str(tmp_path))


def test_mismatched_weights_are_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"model.model.unknown.weight": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(RuntimeError, match="do not match the model config"):
        Backbone("tiny", weights=str(tmp_path / "model.safetensors"))


def test_patched_latent_round_trip_is_exact_and_unit_scaled(tiny_backbone):
    audio = torch.rand(2, 2, 32_000) * 2 - 1
    latent = tiny_backbone.encode(audio)
    assert latent.shape == (2, 512, 125)
    assert torch.allclose(tiny_backbone.decode(latent, 32_000), audio, atol=1e-6)


def test_x0_parameterised_backbone_returns_v_and_can_output_silence():
    """tiny_ps is narrower (128) than its latent (288): as a v model it could never remove the noise outside its
    output span. Its model config says ``prediction: x0``: forward still returns v, whose x0 is the DiT's output —
    so a DiT output of zero is exact silence, where a v reading of the same output would keep α·x_t."""
    bb = Backbone("tiny_ps", latent_scale=10.0)
    assert bb.prediction == "x0" and bb.embed_dim < bb.latent_channels
    torch.nn.init.zeros_(bb.dit.transformer.project_out.weight)  # the DiT now outputs 0 (project_out has no bias)
    assert bb.dit.transformer.project_out.bias is None
    x, t = torch.randn(2, bb.latent_channels, 10), torch.tensor([0.3, 0.9])
    tokens, global_cond = bb.number_conditioning(torch.zeros(2), torch.full((2,), 2.0))
    v = bb(x, t, tokens, global_cond)
    alpha, sigma = (q[:, None, None] for q in alpha_sigma(t))
    torch.testing.assert_close(alpha * x - sigma * v, torch.zeros_like(x), atol=1e-5, rtol=0)
    bb.prediction = "v"
    torch.testing.assert_close(alpha * x - sigma * bb(x, t, tokens, global_cond), alpha * x)


def test_unknown_prediction_is_refused():
    cfg = load_model_config("tiny_ps")
    cfg["model"]["diffusion"]["prediction"] = "eps"
    with pytest.raises(ValueError, match="prediction"):
        Backbone(cfg)


def test_a_misspelt_model_config_key_names_the_key_and_the_file(tmp_path):
    """A misspelt ``prediction`` must not silently train a v-model: the key is missing and an unknown one is there."""
    import json

    from stereosync.models.model_config import ModelConfigError

    cfg = load_model_config("tiny_ps")
    cfg["model"]["diffusion"]["predicton"] = cfg["model"]["diffusion"].pop("prediction")
    path = tmp_path / "my_model.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(ModelConfigError, match=r"my_model\.json: missing key model\.diffusion\.prediction"):
        Backbone(str(path))
    cfg["model"]["diffusion"]["prediction"] = "x0"
    path.write_text(json.dumps(cfg))
    with pytest.raises(ModelConfigError, match=r"my_model\.json: unknown key model\.diffusion\.predicton"):
        Backbone(str(path))


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("", "audio_channels"),
        ("model", "io_channels"),
        ("model.diffusion", "global_cond_ids"),
        ("model.pretransform", "config"),
    ],
)
def test_each_required_model_config_key_is_required(section, key):
    from stereosync.models.model_config import ModelConfigError, validate_model_config

    cfg = load_model_config("tiny_ps")
    node = cfg
    for part in filter(None, section.split(".")):
        node = node[part]
    del node[key]
    with pytest.raises(ModelConfigError, match=rf"test config: missing key {(section + '.' if section else '') + key}"):
        validate_model_config(cfg, "test config")


@pytest.mark.parametrize("name", ["sao_1_0", "tiny", "tiny_ps"])
def test_shipped_model_configs_are_valid(name):
    assert load_model_config(name)["model"]["diffusion"]["prediction"] in ("v", "x0")
