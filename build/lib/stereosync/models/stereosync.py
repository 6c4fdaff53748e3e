"""StereoSync's model: frozen backbone + ControlNet + conditioning projections (Fig. 1 of the paper).

Data flow and shapes: docs/design.md#data-flow.

Cross-attention tokens = [depth tokens | box tokens | CLAP token | seconds_start, seconds_total tokens]
(the last two from SAO's frozen number conditioners, when ``seconds_as_tokens``); global conditioning = SAO's
seconds conditioners; ControlNet input = the encoded envelope (+ the spatial control's box features on the
latent grid, when it is on).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from stereosync.models.backbone import Backbone
from stereosync.models.controlnet import ControlNet
from stereosync.models.encoders import BoxEncoder, ClapEncoder, DepthEncoder
from stereosync.models.envelope_control import EnvelopeControl
from stereosync.models.spatial_control import SpatialControl


@dataclass
class Conditioning:
    """Everything the denoiser is conditioned on, for one batch.

    Attributes:
        tokens: (B, S, cond_dim) cross-attention tokens of the active streams (+ seconds tokens), or None.
        global_cond: (B, global_cond_dim) SAO seconds conditioning.
        control: (B, C, L) ControlNet input (encoded envelope), or None without the envelope stream.
        spatial: (B, D, F) spatial-control features at box rate (never dropped for guidance), or None.
        spatial_tokens: how many leading tokens come from the spatial streams (depth and boxes).
        spatial_guided: the spatial control belongs to the null condition (``SpatialControl(guided=True)``): the
            training dropout drops it with the tokens, and guidance's negative branch runs without it.
    """

    tokens: torch.Tensor | None
    global_cond: torch.Tensor
    control: torch.Tensor | None
    spatial: torch.Tensor | None = None
    spatial_tokens: int = 0
    spatial_guided: bool = False

    def guidance_negative(self, guidance: str) -> torch.Tensor | None:
        """The negative tokens of classifier-free guidance: None = the null condition (all tokens zero, the
        training dropout's), ``"spatial"`` = only the spatial streams' tokens zeroed (CLAP and seconds kept), so
        guidance pushes along the video's spatial streams alone."""
        if guidance == "all" or self.tokens is None:
            return None
        if guidance != "spatial":
            raise ValueError(f"guidance must be 'all' or 'spatial', got {guidance!r}")
        negative = self.tokens.clone()
        negative[:, : self.spatial_tokens] = 0
        return negative

    def drop_tokens(self, prob: float, generator: torch.Generator | None = None) -> Conditioning:
        """CFG dropout: each sample's tokens → null (zeros) with probability ``prob``, and with them its
        spatial-control features when the spatial control is guided; the envelope is kept."""
        if self.tokens is None or prob <= 0:
            return self
        keep = torch.rand(self.tokens.shape[0], 1, 1, generator=generator, device=self.tokens.device) >= prob
        dropped = replace(self, tokens=self.tokens * keep)
        if self.spatial_guided and self.spatial is not None:
            dropped.spatial = self.spatial * keep.to(self.spatial.dtype)
        return dropped

    def guided_spatial(self, cfg_scale: float) -> bool:
        """Whether guidance at ``cfg_scale`` also contrasts with the spatial control removed."""
        return cfg_scale != 1.0 and self.spatial_guided and self.spatial is not None and self.tokens is not None


class StereoSyncModel(nn.Module):
    """The denoiser: v = DiT(x_t, t | tokens, global) with ControlNet residuals.

    Args:
        backbone: frozen SAO (or tiny) backbone.
        depth: depth stream encoder, or None (ablation).
        boxes: box stream encoder, or None.
        clap: CLAP stream encoder, or None.
        envelope: envelope stream (ControlNet input), or None: then no ControlNet is built.
        spatial_control: boxes on the latent time grid as a second ControlNet input (a departure from the paper,
            :mod:`stereosync.models.spatial_control`), or None. Needs the envelope stream's ControlNet.
        controlnet_depth_factor: fraction of DiT blocks the ControlNet copies.
        controlnet_checkpointing: activation checkpointing in the ControlNet's blocks.
        controlnet_frame_time: give the ControlNet's latent frames their absolute time, so time-embedded tokens
            can be matched to them (a departure from the paper, docs/design.md#departures; ``false`` = paper-faithful).
        controlnet_input_gain: constant scale of the ControlNet's zero-initialised input convs (1 = the paper's
            design; :mod:`stereosync.models.controlnet`).
        controlnet_output_residual: the ControlNet also adds a residual to the output of the DiT's last block (a
            departure from the paper, :mod:`stereosync.models.controlnet`; ``false`` = paper-faithful).
    """

    def __init__(
        self,
        backbone: Backbone,
        depth: DepthEncoder | None = None,
        boxes: BoxEncoder | None = None,
        clap: ClapEncoder | None = None,
        envelope: EnvelopeControl | None = None,
        controlnet_depth_factor: float = 0.2,
        controlnet_checkpointing: bool = True,
        controlnet_frame_time: bool = True,
        spatial_control: SpatialControl | None = None,
        controlnet_output_residual: bool = False,
        controlnet_input_gain: float = 1.0,
    ):
        super().__init__()
        self.backbone = backbone
        self.depth, self.boxes, self.clap, self.envelope = depth, boxes, clap, envelope
        if spatial_control is not None and envelope is None:
            raise ValueError("model.spatial_control feeds the envelope ControlNet: it needs model.envelope")
        self.spatial_control = spatial_control
        for name, enc in self.streams().items():
            if enc.dim != backbone.cond_dim:
                raise ValueError(
                    f"model.{name}.dim = {enc.dim} but the backbone's cross-attention width "
                    f"(cond_token_dim) is {backbone.cond_dim}: set model.{name}.init_args.dim"
                )
        self.controlnet = (
            ControlNet(
                backbone,
                controlnet_depth_factor,
                controlnet_checkpointing,
                controlnet_frame_time,
                spatial_dim=spatial_control.dim if spatial_control is not None else 0,
                output_residual=controlnet_output_residual,
                input_gain=controlnet_input_gain,
            )
            if envelope is not None
            else None
        )

    def streams(self) -> dict[str, nn.Module]:
        """The active token streams, in token order."""
        return {k: m for k, m in (("depth", self.depth), ("boxes", self.boxes), ("clap", self.clap)) if m is not None}

    def required_keys(self) -> set[str]:
        """Batch members the active streams read."""
        readers = [*self.streams().values()] + ([self.spatial_control] if self.spatial_control is not None else [])
        return {k for enc in readers for k in enc.batch_keys}

    def check_datamodule(self, datamodule: Any, stage: str) -> None:
        """Fail before any long work when a datamodule with ``peek(stage)`` cannot feed this model."""
        data_rate = getattr(getattr(datamodule, "hparams", {}), "sample_rate", None)
        if data_rate is not None and int(data_rate) != self.backbone.sample_rate:
            raise ValueError(f"data.sample_rate = {data_rate} but the backbone runs at {self.backbone.sample_rate} Hz")
        sample = datamodule.peek(stage)
        if sample is not None:
            self.check_sample(sample)

    def check_sample(self, sample: dict) -> None:
        """Raise a ValueError naming shard, key and config key when a decoded sample cannot feed this model."""
        where = f"shard {sample.get('__url__')}, sample {sample.get('__key__')}"
        meta = sample["json"]
        if int(meta["sample_rate"]) != self.backbone.sample_rate:
            raise ValueError(
                f"{where}: audio at {meta['sample_rate']} Hz but the backbone runs at "
                f"{self.backbone.sample_rate} Hz (data.sample_rate / model.backbone model_config)"
            )
        for key in sorted(self.required_keys()):
            if key not in sample:
                raise ValueError(f"{where}: member '{key}' is missing but an active stream reads it")
        for key in ("latent", "envelope_latent"):  # precomputed by another pretransform (e.g. tiny vs tiny_ps)
            if key in sample and sample[key].shape[0] != self.backbone.latent_channels:
                made = meta.get("latents", {}).get("model_config", "?")
                raise ValueError(
                    f"{where}: {key} has {sample[key].shape[0]} channels (made with model_config {made!r}) but "
                    f"the backbone's latent has {self.backbone.latent_channels}: re-run "
                    f"`python -m stereosync.data.latents` with this model.backbone model_config"
                )
        if self.clap is not None and sample["clap"].shape[-1] != self.clap.clap_dim:
            raise ValueError(
                f"{where}: clap is {sample['clap'].shape[-1]}-d but model.clap.init_args.clap_dim = "
                f"{self.clap.clap_dim}"
            )
        if self.boxes is not None and sample["boxes"].shape[1] != self.boxes.num_objects:
            raise ValueError(
                f"{where}: boxes track {sample['boxes'].shape[1]} objects but "
                f"model.boxes.init_args.num_objects = {self.boxes.num_objects}"
            )
        sc = self.spatial_control
        if sc is not None and sample["boxes"].shape[1] != sc.num_objects:
            raise ValueError(
                f"{where}: boxes track {sample['boxes'].shape[1]} objects but "
                f"model.spatial_control.init_args.num_objects = {sc.num_objects}"
            )
        if (
            self.depth is not None
            and self.depth.source == "embedding"
            and sample["depth_emb"].shape[-1] != self.depth.embed_dim
        ):
            raise ValueError(
                f"{where}: depth_emb is {sample['depth_emb'].shape[-1]}-d but "
                f"model.depth.init_args.embed_dim = {self.depth.embed_dim}"
            )

    def condition(self, batch: dict) -> Conditioning:
        """Build the conditioning of a batch (see the module docstring for the token layout)."""
        tokens = []
        if self.depth is not None:
            tokens.append(self.depth(batch[self.depth.batch_keys[0]]))
        if self.boxes is not None:
            tokens.append(self.boxes(batch["boxes"], batch["box_mask"]))
        spatial_tokens = sum(t.shape[1] for t in tokens)
        if self.clap is not None:
            tokens.append(self.clap(batch["clap"]))
        seconds_tokens, global_cond = self.backbone.number_conditioning(batch["seconds_start"], batch["seconds_total"])
        if seconds_tokens is not None:
            tokens.append(seconds_tokens)
        control = self.envelope(batch, self.backbone) if self.envelope is not None else None
        sc = self.spatial_control
        spatial = sc(batch) if sc is not None else None
        joined = torch.cat(tokens, dim=1) if tokens else None
        return Conditioning(joined, global_cond, control, spatial, spatial_tokens, sc is not None and sc.guided)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, cond: Conditioning, cfg_scale: float = 1.0, guidance: str = "all"
    ) -> torch.Tensor:
        """v prediction (B, C, L) for noisy latents x (B, C, L) at times t (B,) ∈ [0, 1].

        With ``cfg_scale != 1`` the DiT runs conditioned and negative halves in one batch (negative: the null
        condition, or with ``guidance="spatial"`` the tokens without the spatial streams'). The ControlNet
        residuals are computed once, with the real tokens, and repeated for both halves — unless the spatial
        control is guided (``SpatialControl(guided=True)``): then the ControlNet also runs the negative half, with
        the negative tokens and without the spatial control, and guidance pushes along the boxes on the latent
        grid as well.
        """
        kwargs = {}
        negative = cond.guidance_negative(guidance) if cfg_scale != 1.0 else None
        if negative is not None:
            kwargs["negative_cross_attn_cond"] = negative
        if self.controlnet is not None:
            residuals = (
                self._guided_control(x, t, cond, negative)
                if cond.guided_spatial(cfg_scale)
                else self.controlnet(x, t, cond.control, cond.tokens, cond.global_cond, cond.spatial)
            )
            kwargs.update(self.controlnet.control_kwargs(residuals))
        return self.backbone(x, t, cond.tokens, cond.global_cond, cfg_scale=cfg_scale, **kwargs)

    def _guided_control(
        self, x: torch.Tensor, t: torch.Tensor, cond: Conditioning, negative: torch.Tensor | None
    ) -> tuple[torch.Tensor, ...]:
        """ControlNet residuals (2B, ...) for the DiT's batched guidance: the conditioned half, then the negative
        half (the DiT's own order) with the negative tokens (None: the null condition, zeros) and the spatial
        control removed (zero features, as the training dropout removes it)."""
        neg_tokens = torch.zeros_like(cond.tokens) if negative is None else negative
        return self.controlnet(
            torch.cat([x, x]),
            torch.cat([t, t]),
            torch.cat([cond.control, cond.control]),
            torch.cat([cond.tokens, neg_tokens.to(cond.tokens.dtype)]),
            torch.cat([cond.global_cond, cond.global_cond]),
            torch.cat([cond.spatial, torch.zeros_like(cond.spatial)]),
        )

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimiser sees: everything outside the frozen backbone (plus the backbone's own
        trainable parameters when it is being pretrained, ``frozen=False``)."""
        return [p for _, p in self.named_parameters() if p.requires_grad]
