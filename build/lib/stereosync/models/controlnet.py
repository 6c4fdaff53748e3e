"""ControlNet: the temporal-envelope path (docs/design.md#controlnet; design of Stable-V2A / stable-audio-controlnet).

A trainable copy of the DiT's first N blocks and its input embedders, initialised from the frozen backbone.
A zero-initialised 1×1 conv maps the control latent (the VAE-encoded envelope) onto the noisy latent; a
zero-initialised 1×1 projection per copied block maps that block's output to a residual which is added to the
input of main block i. At step 0 all residuals are exactly zero, so the full model equals the backbone.

Frame time (``frame_time``, on by default; a departure from the paper): the DiT gives its latent frames only
*relative* positions (rotary self-attention) and its cross-attention tokens none (docs/design.md#departures), so a
latent frame
cannot pick the box/depth token of its own time. A zero-initialised 1×1 conv adds sinusoids of the latent
frame's absolute time in the chunk — the basis the token streams' ``FrameTimeEmbedding`` uses — to the
ControlNet's input; its residuals then carry time into the frozen blocks too.

Spatial control (``spatial_dim > 0``, a departure from the paper): the tracked boxes' features on the latent grid
(:mod:`stereosync.models.spatial_control`) join the input through one more zero-initialised 1×1 conv.

Input gain (``input_gain``, 1 in the paper's design): the zero-initialised input convs (control latent, frame
time, spatial control) are scaled by a constant. Their sum is added to the *noisy* latent, whose noise has unit
variance per channel: at high noise a control read through weights that grew from zero under Adam stays below
that noise for thousands of steps (the trained tiny model's spatial term: 0.4 of the noise after the input
projection, at t = 0.995). A constant gain g is, under Adam, the same as g times the learning rate on those three
convs only: the control can rise above the noise while every other layer learns at the base rate.

Output residual (``output_residual``, a departure from the paper, off by default): one more zero-initialised
projection of the last copied block's output is added to the output of the DiT's *last* block, i.e. to the
hidden state its output head reads. The block residuals enter at the first N blocks and must pass every frozen
block after them; this one reaches the prediction directly.

The residuals reach the frozen blocks through forward pre-hooks on ``ContinuousTransformer.layers[i]``
(stable-audio-tools 0.0.19): the DiT forwards unknown keyword arguments to every block, so the residuals travel
as the keyword ``stereosync_control`` and are popped by the hook before the block runs. The output residual
travels as ``stereosync_output``: the last block's pre-hook pops it and its forward hook adds it to that block's
output (a pair per call, so a recomputed block adds it again, exactly as the first time). Passing them as an
argument (rather than through module state) keeps activation checkpointing exact: a recomputed block sees the
same residual as its first run. The hooks hold no state and do nothing without the keyword, so one set per
backbone serves every ControlNet built on it: :func:`attach_control` installs them once, and the last
ControlNet to :meth:`~ControlNet.close` (or leave its ``with`` block) removes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from stereosync.models.backbone import Backbone
from stereosync.models.encoders.time_embedding import frame_time_features
from stereosync.models.spatial_control import to_latent_grid

CONTROL_KWARG = "stereosync_control"
OUTPUT_KWARG = "stereosync_output"


class ControlNet(nn.Module):
    """Trainable copy of the first ``N = int(depth_factor × depth)`` DiT blocks with zero-initialised outputs.

    Args:
        backbone: the frozen backbone to copy from and to hook into.
        depth_factor: fraction of the DiT's blocks to copy (predecessor: 0.2 → 4 of 24).
        activation_checkpointing: checkpoint the copied blocks (saves memory, costs a recompute).
        frame_time: add the latent frames' absolute time to the ControlNet's input (see the module docstring).
        num_frequencies: sinusoid pairs of the frame-time features.
        spatial_dim: channels of the spatial-control features (0: no spatial control).
        output_residual: also return a residual for the output of the DiT's last block (see the module docstring).
        input_gain: constant scale of the zero-initialised input convs' outputs (see the module docstring).
    """

    def __init__(
        self,
        backbone: Backbone,
        depth_factor: float = 0.2,
        activation_checkpointing: bool = True,
        frame_time: bool = True,
        num_frequencies: int = 16,
        spatial_dim: int = 0,
        output_residual: bool = False,
        input_gain: float = 1.0,
    ):
        super().__init__()
        self.num_blocks = max(1, int(depth_factor * backbone.depth))
        if self.num_blocks > backbone.depth:
            raise ValueError(f"depth_factor {depth_factor} copies {self.num_blocks} > {backbone.depth} blocks")
        if input_gain <= 0:
            raise ValueError(f"ControlNet input_gain must be > 0, got {input_gain}")
        self.activation_checkpointing, self.input_gain = activation_checkpointing, float(input_gain)
        self.dit = backbone.make_dit_copy(self.num_blocks)
        # The copy stops after its last block: its output head is never used.
        self.dit.transformer.project_out = nn.Identity()
        self.dit.postprocess_conv = nn.Identity()
        channels, dim = backbone.latent_channels, backbone.embed_dim
        self.input_conv = nn.Conv1d(channels, channels, 1)  # zero-init: control enters gradually
        self.block_outs = nn.ModuleList(nn.Linear(dim, dim) for _ in range(self.num_blocks))  # 1×1 convs on (B,T,C)
        self.num_frequencies = num_frequencies
        self.time_conv = nn.Conv1d(2 * num_frequencies, channels, 1) if frame_time else None  # zero-init
        self.spatial_conv = nn.Conv1d(spatial_dim, channels, 1) if spatial_dim > 0 else None  # zero-init
        self.output_out = nn.Linear(dim, dim) if output_residual else None  # zero-init
        zero_init = [self.input_conv, *self.block_outs, self.time_conv, self.spatial_conv, self.output_out]
        for layer in (m for m in zero_init if m is not None):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self._backbone_hooks: _ControlHooks | None = attach_control(backbone)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        control: torch.Tensor,
        cross_attn_cond: torch.Tensor | None,
        global_cond: torch.Tensor | None,
        spatial: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Residuals for the first N main blocks.

        Args:
            x: (B, C, L) noisy latent.
            t: (B,) diffusion time in [0, 1].
            control: (B, C, L) control latent (encoded envelope).
            cross_attn_cond: (B, S, cond_dim) tokens, as given to the main DiT.
            global_cond: (B, global_cond_dim).
            spatial: (B, spatial_dim, F) spatial-control features over the chunk at box rate, or None.

        Returns:
            N tensors (B, P + L, embed_dim), P = prepended tokens (the global token): the input of main block i
            gets residual i added. With ``output_residual``, one more tensor of that shape follows: the residual
            for the output of the last main block (pass it as ``OUTPUT_KWARG``, see :func:`control_kwargs`).
        """
        gain = self.input_gain
        scaled = (lambda y: y * gain) if gain != 1.0 else (lambda y: y)
        x = x + scaled(self.input_conv(control.to(x.dtype)))
        if self.time_conv is not None:
            features = frame_time_features(x.shape[-1], self.num_frequencies, x.device, x.dtype)  # (L, 2·nf)
            x = x + scaled(self.time_conv(features.T.unsqueeze(0)))
        if self.spatial_conv is not None:
            if spatial is None:
                raise ValueError("this ControlNet was built with spatial control but got no spatial features")
            x = x + scaled(self.spatial_conv(to_latent_grid(spatial.to(x.dtype), x.shape[-1])))
        _, info = self.dit(
            x,
            t,
            cross_attn_cond=cross_attn_cond,
            global_embed=global_cond,
            exit_layer_ix=self.num_blocks - 1,
            return_info=True,
            use_checkpointing=self.activation_checkpointing and torch.is_grad_enabled(),
        )
        residuals = tuple(out(h) for out, h in zip(self.block_outs, info["hidden_states"]))
        if self.output_out is not None:
            residuals += (self.output_out(info["hidden_states"][-1]),)
        return residuals

    def control_kwargs(self, residuals: tuple[torch.Tensor, ...]) -> dict[str, Any]:
        """The keyword arguments that carry :meth:`forward`'s residuals into the main DiT."""
        if self.output_out is None:
            return {CONTROL_KWARG: residuals}
        return {CONTROL_KWARG: residuals[:-1], OUTPUT_KWARG: residuals[-1]}

    def close(self) -> None:
        """Stop using the backbone's control hooks; the last ControlNet on a backbone removes them."""
        if self._backbone_hooks is not None:
            self._backbone_hooks.release()
            self._backbone_hooks = None

    def __enter__(self) -> ControlNet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ControlHooks:
    """The residual pre-hooks on one backbone's blocks, shared by the ControlNets built on it (counted)."""

    def __init__(self, backbone: Backbone):
        self.backbone = backbone
        self.users = 0
        pending: list[torch.Tensor | None] = []  # the output residual, from the last block's pre-hook to its hook
        last = len(backbone.blocks) - 1
        self.handles = [
            block.register_forward_pre_hook(_make_hook(i, pending if i == last else None), with_kwargs=True)
            for i, block in enumerate(backbone.blocks)
        ]
        self.handles.append(backbone.blocks[last].register_forward_hook(_make_output_hook(pending)))

    def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            for handle in self.handles:
                handle.remove()
            self.backbone.__dict__.pop("_control_hooks", None)


def attach_control(backbone: Backbone) -> _ControlHooks:
    """Install the control pre-hooks on ``backbone``'s blocks unless they are there; counts one more user."""
    hooks = backbone.__dict__.get("_control_hooks")
    if hooks is None:
        hooks = _ControlHooks(backbone)
        backbone.__dict__["_control_hooks"] = hooks  # plain attribute: not a submodule, never in a state dict
    hooks.users += 1
    return hooks


def _make_output_hook(pending: list):
    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        residual = pending.pop()
        if residual is None:
            return output
        if residual.shape[0] != output.shape[0]:  # the DiT doubled the batch for classifier-free guidance
            residual = residual.repeat(output.shape[0] // residual.shape[0], 1, 1)
        return output + residual.to(output.dtype)

    return hook


def _make_hook(index: int, pending: list | None = None):
    def hook(module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        output = kwargs.pop(OUTPUT_KWARG, None)  # every block gets the DiT's extra keywords
        if pending is not None:  # the last block: its forward hook adds the output residual
            pending.append(output)
        control: Sequence[torch.Tensor] | None = kwargs.pop(CONTROL_KWARG, None)
        if control is None or index >= len(control):
            return args, kwargs
        x, *rest = args
        residual = control[index]
        if residual.shape[0] != x.shape[0]:  # the DiT doubled the batch for classifier-free guidance
            residual = residual.repeat(x.shape[0] // residual.shape[0], 1, 1)
        return (x + residual.to(x.dtype), *rest), kwargs

    return hook
