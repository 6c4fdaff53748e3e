"""The frozen Stable Audio Open backbone — the project's only seam to ``stable_audio_tools`` (pinned 0.0.19).

Builds the DiT, the pretransform (VAE) and SAO's ``seconds_start``/``seconds_total`` number conditioners from a
stable-audio-tools model config, drops the T5 prompt conditioner (docs/design.md#backbone), loads local weights and
freezes
everything. Nothing here ever reaches the network.

Also exposes the two further things the rest of the project needs from stable-audio-tools: a fresh
``DiffusionTransformer`` of the same architecture (for the ControlNet copy) and the k-diffusion sampler.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from stereosync.models.model_config import load_model_config
from stereosync.models.objective import Prediction, v_from_x0

log = logging.getLogger(__name__)

WEIGHTS_ENV = "STEREOSYNC_SAO_DIR"
"""Environment variable naming the downloaded ``stable-audio-open-1.0`` folder (``model.safetensors`` inside)."""

PKG_SCHEME = "pkg://"
"""Prefix of a weights reference inside an installed package (see :func:`resolve_weights`)."""

_DROPPED_CONDITIONERS = ("t5", "clap_text")  # need hub weights, and the paper conditions on video, not text


def strip_text_conditioning(config: dict, seconds_as_tokens: bool = True) -> dict:
    """Remove text conditioners; keep the number conditioners as global (and optionally token) conditioning.

    Args:
        config: stable-audio-tools ``diffusion_cond`` model config.
        seconds_as_tokens: keep ``seconds_start``/``seconds_total`` as two cross-attention tokens, as SAO was
            pretrained (docs/design.md#backbone). ``False`` keeps them global only (the predecessor's layout).
    """
    config = copy.deepcopy(config)
    model = config["model"]
    dropped = {c["id"] for c in model["conditioning"]["configs"] if c["type"] in _DROPPED_CONDITIONERS}
    model["conditioning"]["configs"] = [c for c in model["conditioning"]["configs"] if c["id"] not in dropped]
    diffusion = model["diffusion"]
    ids = [i for i in diffusion["cross_attention_cond_ids"] if i not in dropped]
    diffusion["cross_attention_cond_ids"] = ids if seconds_as_tokens else []
    diffusion["global_cond_ids"] = [i for i in diffusion["global_cond_ids"] if i not in dropped]
    return config


def resolve_weights(weights: str | os.PathLike | None) -> Path | None:
    """Find the backbone weights file: an explicit file or folder, else ``$STEREOSYNC_SAO_DIR``, else None.

    ``pkg://<package>/<path>`` names a file shipped inside an installed package (e.g.
    ``pkg://stereosync/weights/tiny_ps_backbone.safetensors``), so a config resolves from any working directory.
    """
    if weights is None:
        env = os.environ.get(WEIGHTS_ENV)
        if not env:
            return None
        weights = env
    if str(weights).startswith(PKG_SCHEME):
        package, _, inner = str(weights)[len(PKG_SCHEME) :].partition("/")
        weights = str(resources.files(package).joinpath(inner))
    path = Path(weights).expanduser()
    if path.is_dir():
        for name in ("model.safetensors", "model.ckpt"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"backbone weights: folder {path} holds neither model.safetensors nor model.ckpt")
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights file not found: {path}")
    return path


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state)


OWN_PRETRANSFORMS = ("parametric_stereo", "parametric_binaural")
"""Pretransform types this project adds to stable-audio-tools' (see :func:`build_own_pretransform`)."""


def build_own_pretransform(config: dict) -> nn.Module | None:
    """The project's own weight-free pretransform for a model config's ``pretransform`` entry, else None.

    ``{"type": "parametric_stereo", "config": {...}}`` builds
    :class:`~stereosync.models.parametric_stereo.ParametricStereoPretransform`, ``"parametric_binaural"``
    :class:`~stereosync.models.parametric_binaural.ParametricBinauralPretransform`; every other type is left to
    stable-audio-tools.
    """
    if config["type"] not in OWN_PRETRANSFORMS:
        return None
    if config["type"] == "parametric_binaural":
        from stereosync.models.parametric_binaural import ParametricBinauralPretransform

        return ParametricBinauralPretransform(**config["config"])
    from stereosync.models.parametric_stereo import ParametricStereoPretransform

    return ParametricStereoPretransform(**config["config"])


class Backbone(nn.Module):
    """Frozen SAO: DiT + pretransform + number conditioners, built from a model config (docs/design.md#backbone).

    The model config's ``model.diffusion.prediction`` (this project's key, required: ``"v"`` for SAO) says what the
    DiT's output means: ``"v"`` or ``"x0"`` (the clean latent, for DiTs narrower than their latent; see
    :mod:`stereosync.models.objective`). :meth:`forward` returns v either way.

    Args:
        model_config: shipped config name (``"sao_1_0"``, ``"tiny"``), json path, or dict.
        weights: ``model.safetensors``/``.ckpt`` file or the folder holding it; ``None`` falls back to
            ``$STEREOSYNC_SAO_DIR`` and, if that is unset, keeps random weights (tests, tiny runs).
        seconds_as_tokens: also feed ``seconds_start``/``seconds_total`` as cross-attention tokens (SAO layout).
        latent_scale: latents are ``pretransform.encode(audio) * latent_scale``; weight-free pretransforms
            (``patched``) need it to reach about unit variance (docs/design.md#departures).
            Recorded in the hyper-parameters.
        activation_checkpointing: the DiT's own per-block checkpointing (stable-audio-tools default: on).
        frozen: freeze everything (StereoSync). ``False`` trains the DiT and the number conditioners — only for
            pretraining a small backbone on the project's own data (``configs/tiny_pretrain.yaml``), as SAO was
            pretrained before StereoSync froze it. The pretransform always stays frozen.
        dtype: storage and compute dtype of the frozen DiT (``"bfloat16"`` halves its memory and, on a GPU, runs
            it on bf16 tensor cores). Trainable parts (ControlNet, projections) keep fp32 master weights; their
            residuals and tokens are cast on entry to the DiT, and gradients flow back to fp32. The pretransform
            and number conditioners stay fp32. Needs ``frozen`` (no bf16 training of the backbone itself).
    """

    def __init__(
        self,
        model_config: str | dict = "sao_1_0",
        weights: str | None = None,
        seconds_as_tokens: bool = True,
        latent_scale: float = 1.0,
        activation_checkpointing: bool = True,
        frozen: bool = True,
        dtype: Literal["float32", "bfloat16", "float16"] = "float32",
    ):
        super().__init__()
        from stable_audio_tools.models.diffusion import create_diffusion_cond_from_config

        raw = load_model_config(model_config)  # checked: required keys present, none unknown
        self.config = strip_text_conditioning(raw, seconds_as_tokens)
        self.prediction: Prediction = self.config["model"]["diffusion"]["prediction"]
        own_pretransform = build_own_pretransform(self.config["model"]["pretransform"])
        build_config = copy.deepcopy(self.config)
        if own_pretransform is not None:  # stable-audio-tools does not know it: build the rest without it
            del build_config["model"]["pretransform"]
        wrapper = create_diffusion_cond_from_config(build_config)
        self.dit = wrapper.model.model  # DiffusionTransformer
        self.conditioner = wrapper.conditioner
        self.pretransform = own_pretransform if own_pretransform is not None else wrapper.pretransform
        self.sample_rate: int = self.config["sample_rate"]
        self.audio_channels: int = self.config["audio_channels"]
        self.seconds_as_tokens = seconds_as_tokens
        self.latent_scale = float(latent_scale)
        self.activation_checkpointing = activation_checkpointing
        self.weights_path = resolve_weights(weights)
        if self.weights_path is not None:
            self._load(wrapper, self.weights_path)
        else:
            log.warning("Backbone: no weights given (nor $%s); the backbone keeps random weights", WEIGHTS_ENV)
        self.frozen = frozen
        self.requires_grad_(False)
        if not frozen:
            self.dit.requires_grad_(True)
            self.conditioner.requires_grad_(True)
        self.train(False)
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"backbone dtype must be float32, bfloat16 or float16, got {dtype!r}")
        if dtype != "float32" and not frozen:
            raise ValueError(f"backbone dtype {dtype} needs frozen=True (the DiT would train in {dtype})")
        self.dit_dtype: torch.dtype = getattr(torch, dtype)
        self.dit.to(self.dit_dtype)

    @staticmethod
    def _load(wrapper: nn.Module, path: Path) -> None:
        state = _load_state_dict(path)
        own = wrapper.state_dict()
        state = {k: v for k, v in state.items() if k in own or not k.startswith("conditioner.conditioners.prompt")}
        missing, unexpected = wrapper.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise RuntimeError(
                f"backbone weights {path} do not match the model config: "
                f"missing {missing[:8]}{'...' if len(missing) > 8 else ''}, "
                f"unexpected {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}"
            )
        log.info("Backbone: loaded %d tensors from %s", len(state), path)

    def train(self, mode: bool = True) -> Backbone:
        """A frozen backbone stays in eval mode whatever the caller asks; the pretransform always does."""
        super().train(mode and not self.frozen)
        if self.pretransform is not None:
            self.pretransform.eval()
        return self

    # --- shapes -------------------------------------------------------------------------------------------
    @property
    def dit_config(self) -> dict[str, Any]:
        return self.config["model"]["diffusion"]["config"]

    @property
    def latent_channels(self) -> int:
        return self.config["model"]["io_channels"]

    @property
    def downsampling_ratio(self) -> int:
        return int(self.pretransform.downsampling_ratio) if self.pretransform is not None else 1

    @property
    def embed_dim(self) -> int:
        return self.dit_config["embed_dim"]

    @property
    def depth(self) -> int:
        return self.dit_config["depth"]

    @property
    def cond_dim(self) -> int:
        """Width of cross-attention tokens (768 for SAO)."""
        return self.dit_config["cond_token_dim"]

    @property
    def blocks(self) -> nn.ModuleList:
        """The DiT's transformer blocks (``ContinuousTransformer.layers``)."""
        return self.dit.transformer.layers

    def latent_frames(self, num_samples: int) -> int:
        """Latent frames for ``num_samples`` audio samples (padded to a multiple of the downsampling ratio)."""
        return math.ceil(num_samples / self.downsampling_ratio)

    # --- audio <-> latent --------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, 2, T) audio at ``sample_rate`` → (B, C, L) scaled latent; T is zero-padded to a ratio multiple."""
        pad = self.latent_frames(audio.shape[-1]) * self.downsampling_ratio - audio.shape[-1]
        audio = nn.functional.pad(audio, (0, pad))
        dtype = next(self.pretransform.parameters(), audio).dtype
        return self.pretransform.encode(audio.to(dtype)).float() * self.latent_scale

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """(B, C, L) scaled latent → (B, 2, T) audio, cropped to ``num_samples`` when given.

        Decodes with the pretransform directly: ``generate_diffusion_cond`` reads the device/dtype from the
        pretransform's parameters, which a weight-free pretransform does not have (docs/design.md#departures).
        """
        dtype = next(self.pretransform.parameters(), latent).dtype
        audio = self.pretransform.decode((latent / self.latent_scale).to(dtype)).float()
        return audio[..., :num_samples] if num_samples is not None else audio

    # --- conditioning ------------------------------------------------------------------------------------
    def number_conditioning(
        self, seconds_start: torch.Tensor, seconds_total: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """SAO's frozen timing conditioners.

        Args:
            seconds_start: (B,) chunk start in seconds.
            seconds_total: (B,) total length in seconds.

        Returns:
            ``(tokens, global_cond)``: tokens (B, 2, cond_dim) or None when ``seconds_as_tokens`` is off;
            global_cond (B, global_cond_dim).
        """
        device = seconds_start.device
        meta = [{"seconds_start": float(s), "seconds_total": float(t)} for s, t in zip(seconds_start, seconds_total)]
        cond = self.conditioner(meta, device)
        global_cond = torch.cat([cond[k][0].squeeze(1) for k in ("seconds_start", "seconds_total")], dim=-1)
        tokens = None
        if self.seconds_as_tokens:
            tokens = torch.cat([cond[k][0] for k in ("seconds_start", "seconds_total")], dim=1)
        return tokens, global_cond

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        cross_attn_cond: torch.Tensor | None,
        global_cond: torch.Tensor | None,
        cfg_scale: float = 1.0,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Frozen DiT prediction (v) for latents x (B, C, L) at timesteps t (B,) in [0, 1].

        An x0-parameterised DiT (``prediction == "x0"``) is converted: v = (α·x − F)/σ.

        ``cfg_scale != 1`` runs the DiT's own batched classifier-free guidance (null = zero tokens).
        Extra kwargs reach every transformer block (the ControlNet's hooks read theirs from there).
        The prediction comes back in x's dtype whatever the DiT's ``dtype``.
        """
        out = self.dit(
            x,
            t,
            cross_attn_cond=cross_attn_cond,
            global_embed=global_cond,
            cfg_scale=cfg_scale,
            use_checkpointing=self.activation_checkpointing and torch.is_grad_enabled(),
            **kwargs,
        )
        out = out.to(x.dtype)
        return v_from_x0(out, x, t) if self.prediction == "x0" else out

    def make_dit_copy(self, depth: int) -> nn.Module:
        """A trainable ``DiffusionTransformer`` with the backbone's first ``depth`` blocks and all its embedders.

        Built fresh from the config (no deep copy of the full model) and initialised from the backbone.
        """
        from stable_audio_tools.models.dit import DiffusionTransformer

        cfg = dict(self.dit_config, depth=depth)
        cfg.pop("type", None)
        copy_dit = DiffusionTransformer(diffusion_objective=self.dit.diffusion_objective, **cfg)
        source = self.dit.state_dict()
        own = copy_dit.state_dict()
        missing = [k for k in own if k not in source]
        if missing:
            raise RuntimeError(f"ControlNet copy: keys absent from the backbone DiT: {missing[:8]}")
        copy_dit.load_state_dict({k: source[k] for k in own})
        return copy_dit.train().requires_grad_(True)


def sample_k(*args: Any, **kwargs: Any) -> torch.Tensor:
    """stable-audio-tools' k-diffusion sampler (``inference.sampling.sample_k``)."""
    from stable_audio_tools.inference.sampling import sample_k as _sample_k

    return _sample_k(*args, **kwargs)
