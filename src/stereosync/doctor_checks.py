"""The checks of ``stereosync-doctor`` (:mod:`stereosync.doctor`): each reads files, never trains or loads 5 GB.

Every check returns :class:`Check` results: ``ok`` with what was found, or the problem and its fix, each naming
the file, the key or the value concerned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from stereosync.realformat.safetensors_io import SafetensorsError, read_header

_SHOWN = 3  # names listed per problem; the rest are counted


@dataclass(frozen=True)
class Check:
    """One line of the report.

    Attributes:
        name: what was checked (``sao weights``, ``shards train`` ...).
        status: ``OK``, ``FAIL`` or ``SKIP`` (not applicable here, e.g. no GPU).
        detail: what was found, or the problem.
        fix: what to do (FAIL only).
    """

    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The report line: ``STATUS name: detail[ — fix: ...]``."""
        text = f"{self.status:<4} {self.name}: {self.detail}"
        return f"{text} — fix: {self.fix}" if self.fix else text


def ok(name: str, detail: str) -> Check:
    return Check(name, "OK", detail)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, "FAIL", detail, fix)


def _few(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


# --- SAO --------------------------------------------------------------------------------------------------
def _diff(a: object, b: object, where: str = "") -> list[str]:
    """Dotted keys where two json values differ."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return [d for k in sorted(set(a) | set(b)) for d in _diff(a.get(k), b.get(k), f"{where}.{k}".lstrip("."))]
    return [] if a == b else [f"{where} ({b!r} in the folder, {a!r} expected)"]


def check_sao_config(folder: Path, model_config: str | dict) -> Check:
    """The folder's ``model_config.json`` describes the recipe's architecture (training/demo settings aside)."""
    from stereosync.realformat.sao import CONFIG_FILE, released_config

    name, path = "sao model_config.json", folder / CONFIG_FILE
    if not path.is_file():
        return fail(name, f"{path} is missing", "download model_config.json from the stable-audio-open-1.0 page")
    try:
        found = json.loads(path.read_text())
    except ValueError as err:
        return fail(name, f"{path} is not valid JSON ({err})", "download model_config.json again")
    want = released_config(model_config)
    keys = ("model_type", "sample_rate", "audio_channels", "model")
    diffs = [d for k in keys for d in _diff(want.get(k), found.get(k), k)]
    if diffs:
        return fail(
            name,
            f"{path} differs from the recipe's architecture: {_few(diffs)}",
            "point model.backbone.init_args.weights at the stable-audio-open-1.0 folder (or set "
            "model.backbone.init_args.model_config to the config these weights were trained with)",
        )
    return ok(name, f"{path} matches the recipe's architecture")


def check_sao_weights(path: Path, model_config: str | dict) -> Check:
    """Every expected key present with its shape and dtype, none unexpected, the file whole (header only)."""
    from stereosync.realformat.sao import expected_tensors

    name = "sao weights"
    if path.suffix != ".safetensors":
        return Check(name, "SKIP", f"{path}: only .safetensors files are checked without loading them")
    try:
        header, _ = read_header(path)
    except SafetensorsError as err:
        return fail(name, str(err), f"download {path.name} again (compare its size with the model page's)")
    expected = expected_tensors(model_config)
    problems = header_problems(header, expected)
    if problems:
        return fail(
            name,
            f"{path}: " + "; ".join(problems),
            "use the released model.safetensors of stabilityai/stable-audio-open-1.0 (float32) with "
            "model_config sao_1_0, or the model_config this file was trained with",
        )
    size = path.stat().st_size / 1e9
    return ok(name, f"{path}: all {len(expected)} tensors present, shapes and dtypes as expected, {size:.2f} GB whole")


def header_problems(header: Mapping, expected: Mapping[str, tuple[tuple[int, ...], str]]) -> list[str]:
    """Missing, unexpected, reshaped and retyped tensors of a header against the expected ones, each a phrase
    naming the first few keys and counting all. The T5 prompt conditioner's keys are ignored, as the backbone
    ignores them."""
    found = {k: v for k, v in header.items() if not k.startswith("conditioner.conditioners.prompt")}
    both = sorted(set(expected) & set(found))
    shapes = [k for k in both if found[k].shape != expected[k][0]]
    dtypes = [k for k in both if found[k].dtype != expected[k][1]]
    groups = {
        "missing keys": sorted(set(expected) - set(found)),
        "unexpected keys": sorted(set(found) - set(expected)),
        "wrong shapes": [f"{k} {found[k].shape} (expected {expected[k][0]})" for k in shapes],
        "wrong dtypes": [f"{k} {found[k].dtype} (expected {expected[k][1]})" for k in dtypes],
    }
    return [f"{len(items)} {what}: {_few(items)}" for what, items in groups.items() if items]


# --- CLAP -------------------------------------------------------------------------------------------------
def check_clap(path: str | None, fusion: bool, role: str) -> Check:
    """The LAION-CLAP checkpoint: readable without unpickling objects, the audio keys of the expected variant."""
    from stereosync.clap import _AUDIO_PREFIXES, ClapAudioEncoder, _read_checkpoint
    from stereosync.realformat.clap import FUSION_FILE, FUSION_PREFIX, NON_FUSION_FILE

    name = f"clap checkpoint ({role})"
    wanted = FUSION_FILE if fusion else NON_FUSION_FILE
    if path is None:
        return fail(
            name,
            "none set: the CLAP audio branch would run with random weights",
            f"download {wanted} from huggingface.co/lukewys/laion_clap and set it in the config",
        )
    if not Path(path).is_file():
        return fail(name, f"{path} does not exist", f"download {wanted} from huggingface.co/lukewys/laion_clap")
    try:
        state = _read_checkpoint(path)
    except (RuntimeError, OSError, EOFError) as err:
        return fail(name, f"{path} does not load: {str(err)[:300]}", f"download {wanted} again")
    has_fusion = any(k.startswith(FUSION_PREFIX) for k in state)
    if has_fusion != fusion:
        found, other = ("a fusion", "enable fusion") if has_fusion else ("a non-fusion", "disable fusion")
        return fail(
            name,
            f"{path} is {found} checkpoint; the recipe expects {'fusion' if fusion else 'non-fusion'}",
            f"use {wanted} (or {other}: data.predict_models.clap_fusion)",
        )
    expected = {
        k for k in ClapAudioEncoder(None, enable_fusion=fusion).model.state_dict() if k.startswith(_AUDIO_PREFIXES)
    }
    audio = {k for k in state if k.startswith(_AUDIO_PREFIXES)}
    missing, unexpected = sorted(expected - audio), sorted(audio - expected)
    if missing or unexpected:
        return fail(
            name,
            f"{path}: {len(missing)} audio keys missing ({_few(missing)}), {len(unexpected)} "
            f"unexpected ({_few(unexpected)})",
            f"download {wanted} again",
        )
    return ok(name, f"{path}: {'fusion' if fusion else 'non-fusion'} HTSAT-tiny, {len(audio)} audio tensors")


# --- extraction models ------------------------------------------------------------------------------------
def check_transformers_folder(role: str, ref: str, hub_id: str, classes: tuple[str, ...] = ()) -> Check:
    """A ``transformers`` model folder loads offline through the project's seam (and knows ``classes``)."""
    from stereosync.extract.tiny_nets import is_tiny_weights

    name = f"{role} model"
    if ref == "none":
        return Check(name, "SKIP", "none configured")
    if is_tiny_weights(ref):
        return (
            ok(name, f"{ref}: the project's tiny model")
            if _exists(ref)
            else fail(name, f"{ref} does not exist", "give the .safetensors file of a tiny model")
        )
    folder = Path(ref)
    fix = f"huggingface-cli download {hub_id} --local-dir models/{hub_id.split('/')[-1]} and pass that folder"
    if not folder.is_dir():
        return fail(name, f"{ref} is not a local folder (nothing is downloaded at run time)", fix)
    for needed in ("config.json", "preprocessor_config.json"):
        if not (folder / needed).is_file():
            return fail(name, f"{folder / needed} is missing", fix)
    weights = folder / "model.safetensors"
    if weights.is_file():
        try:
            read_header(weights)
        except SafetensorsError as err:
            return fail(name, str(err), fix)
    try:
        loaded = _load_extraction_model(role, ref, classes)
    except Exception as err:  # noqa: BLE001 - any failure to load is the finding
        return fail(name, f"{ref} does not load: {type(err).__name__}: {str(err)[:300]}", fix)
    return ok(name, f"{ref} loads offline ({loaded})")


def _exists(ref: str) -> bool:
    from stereosync.models.backbone import resolve_weights

    try:
        return resolve_weights(ref) is not None
    except FileNotFoundError:
        return False


def _load_extraction_model(role: str, ref: str, classes: tuple[str, ...]) -> str:
    """Load through the extraction seam on the CPU; returns a short description. Raises what loading raises."""
    import transformers

    # transformers prints a table of the text-tower keys a CLIP vision load skips: expected, not a finding
    transformers.utils.logging.set_verbosity_error()
    if role == "depth":
        from stereosync.extract.depth import TransformersDepth

        model = TransformersDepth.from_pretrained(ref).model
    elif role == "detector":
        from stereosync.extract.detector import TransformersDetector

        model = TransformersDetector.from_pretrained(ref, classes).model  # raises naming unknown classes
        labels = len(model.config.id2label)
        return f"{_millions(model)} M parameters, classes {', '.join(classes)} among its {labels} labels"
    else:
        from stereosync.extract.image_encoder import TransformersImageEncoder

        model = TransformersImageEncoder.from_pretrained(ref).model
    return f"{_millions(model)} M parameters"


def _millions(model: torch.nn.Module) -> str:
    return f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}"
