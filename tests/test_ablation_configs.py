"""Every shipped config parses, and every ablation switches exactly the streams its name says."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from stereosync.cli import cli_main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = CONFIGS / "tiny.yaml"
STREAMS = ("depth", "boxes", "clap", "envelope")
ALL_ON = set(STREAMS)

# ablation → (streams switched on, expected box-encoder init_args subset)
EXPECTED = {
    "full": (ALL_ON, {"mode": "per_frame", "time_embedding": True}),
    "no_depth": (ALL_ON - {"depth"}, {}),
    "no_boxes": (ALL_ON - {"boxes"}, None),
    "no_clap": (ALL_ON - {"clap"}, {}),
    "no_envelope": (ALL_ON - {"envelope"}, {}),
    "no_spatial": (ALL_ON - {"depth", "boxes"}, None),
    "boxes_per_number": (ALL_ON, {"mode": "per_number", "time_embedding": True}),
    "boxes_per_number_no_time": (ALL_ON, {"mode": "per_number", "time_embedding": False}),
    "boxes_per_frame_no_time": (ALL_ON, {"mode": "per_frame", "time_embedding": False}),
    "pan_envelope": (ALL_ON, {}),
    "no_spatial_control": (ALL_ON, {}),
}
ENVELOPE_ARGS = {"pan_envelope": {"pan_from_boxes": True}}  # ablation → expected envelope init_args subset
# ablation → model arguments outside the streams it changes (paper-faithful rows: no time on either side)
MODEL_ARGS = {name: {"controlnet_frame_time": False} for name in EXPECTED if name.endswith("_no_time")}
# rows without the boxes or the ControlNet, and the paper's model itself, build no spatial control
NO_SPATIAL_CONTROL = ("no_boxes", "no_envelope", "no_spatial", "no_spatial_control")
MODEL_ARGS |= {name: {"spatial_control": None} for name in NO_SPATIAL_CONTROL}


def resolved(*configs: Path) -> dict:
    """The config LightningCLI resolves for ``fit --config ...`` (``--print_config``, nothing is built)."""
    args = ["fit"] + [a for c in configs for a in ("--config", str(c))] + ["--print_config"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        cli_main(args)
    assert exit_info.value.code in (0, None), out.getvalue()
    return yaml.safe_load(out.getvalue())


def active_streams(cfg: dict) -> set[str]:
    return {name for name in STREAMS if cfg["model"][name] is not None}


def test_every_ablation_is_tested():
    assert {p.stem for p in (CONFIGS / "ablations").glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ablation_switches_its_streams(name):
    path = CONFIGS / "ablations" / f"{name}.yaml"
    assert path.read_text().startswith("# Paper table row:"), "first comment names the paper-table row"
    base = resolved(TINY)
    cfg = resolved(TINY, path)
    on, box_args = EXPECTED[name]
    assert active_streams(cfg) == on
    for stream in on:  # a partial YAML must not silently drop a sibling's settings (width, K, mode ...)
        if (stream == "boxes" and box_args) or (stream == "envelope" and name in ENVELOPE_ARGS):
            continue
        assert cfg["model"][stream] == base["model"][stream], stream
    if box_args:
        boxes = cfg["model"]["boxes"]
        assert boxes["class_path"] == base["model"]["boxes"]["class_path"]
        assert boxes["init_args"] == base["model"]["boxes"]["init_args"] | box_args
    if name in ENVELOPE_ARGS:
        envelope = cfg["model"]["envelope"]
        assert envelope["init_args"] == base["model"]["envelope"]["init_args"] | ENVELOPE_ARGS[name]
    # everything outside the streams (backbone, trainer, data, sampler) is the base recipe's
    strip = {"model": set(STREAMS)}
    for section in ("trainer", "data"):
        assert cfg[section] == base[section], section
    assert {k: v for k, v in cfg["model"].items() if k not in strip["model"]} == {
        k: v for k, v in base["model"].items() if k not in strip["model"]
    } | MODEL_ARGS.get(name, {})
    assert base["model"]["controlnet_frame_time"] is True
    assert base["model"]["spatial_control"]["class_path"].endswith("SpatialControl")


@pytest.mark.parametrize(
    "stack",
    [
        ("tiny.yaml",),
        ("sao.yaml",),
        ("tiny.yaml", "tiny_pretrain.yaml"),
        *[("tiny.yaml", f"trainer/{p.name}") for p in sorted((CONFIGS / "trainer").glob("*.yaml"))],
    ],
    ids=lambda s: "+".join(s),
)
def test_shipped_config_parses(stack):
    cfg = resolved(*(CONFIGS / s for s in stack))
    assert cfg["model"]["backbone"]["class_path"].endswith("Backbone")


def test_pretrain_config_trains_the_backbone_alone():
    cfg = resolved(TINY, CONFIGS / "tiny_pretrain.yaml")
    assert active_streams(cfg) == set()  # no ControlNet, no video or CLAP tokens: seconds conditioning only
    assert cfg["model"]["spatial_control"] is None
    backbone = cfg["model"]["backbone"]["init_args"]
    assert backbone["frozen"] is False and backbone["weights"] is None
    assert backbone["model_config"] == "tiny_ps" and backbone["latent_scale"] == 10.0
    assert cfg["model"]["timestep_shift"] == 1.0  # the shipped backbone was pretrained on plain uniform timesteps


def test_tiny_recipe_uses_the_shipped_backbone():
    from stereosync.models.backbone import resolve_weights

    weights = resolved(TINY)["model"]["backbone"]["init_args"]["weights"]
    assert weights.startswith("pkg://stereosync/")
    assert resolve_weights(weights).is_file()
