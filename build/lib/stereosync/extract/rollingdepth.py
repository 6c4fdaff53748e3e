"""RollingDepth (Ke et al., CVPR 2025; the paper's depth model) as an optional depth backend.

RollingDepth is not on PyPI: install it from its repository (``pip install -e <RollingDepth checkout>``,
plus its patched diffusers, see its README). It estimates depth for a whole frame sequence at once
(snippets at several dilations, co-aligned), so each call gets the consecutive 4-fps frames of a group of
chunks. Not exercised by the tests of this project (the package is not installable here).
"""

from __future__ import annotations

import numpy as np
import torch

from stereosync.extract._torch import require
from stereosync.extract.depth import normalise_per_frame

_INSTALL = (
    "RollingDepth is not installed: clone github.com/prs-eth/RollingDepth, run its "
    "script/install_diffusers_dev.sh and `pip install -e .` in it (or choose --depth-backend transformers)"
)


class RollingDepthBackend:
    """Depth for consecutive frames with a ``rollingdepth.RollingDepthPipeline``.

    Args:
        checkpoint: local folder of ``prs-eth/rollingdepth-v1-0`` (or the hub id when online).
        device: where it runs.
        dtype: float16 is RollingDepth's "fast" preset.
        processing_res: long side fed to the model (pixels).
        dilations: snippet dilations (the "fast" preset: [1, 25]; capped to the sequence length).
        refine_step: refinement steps (0 = fast preset, 10 = paper preset).
    """

    def __init__(
        self,
        checkpoint: str = "prs-eth/rollingdepth-v1-0",
        device: str | torch.device = "cuda",
        dtype: torch.dtype = torch.float16,
        processing_res: int = 768,
        dilations: tuple[int, ...] = (1, 25),
        refine_step: int = 0,
    ):
        try:
            rollingdepth = require("rollingdepth", _INSTALL)
        except ImportError as err:
            raise ImportError(_INSTALL) from err
        self.pipe = rollingdepth.RollingDepthPipeline.from_pretrained(checkpoint, torch_dtype=dtype).to(device)
        self.processing_res, self.dilations, self.refine_step = processing_res, list(dilations), refine_step
        self.name = f"rollingdepth:{checkpoint}"

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) uint8 consecutive RGB frames -> (N, h, w) float32 in [0, 1], near = 1."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        scale = self.processing_res / max(x.shape[-2:])
        if scale < 1:
            x = torch.nn.functional.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True)
        out = self.pipe.forward(
            input_frames=x[None],
            dilations=list(self.dilations),
            cap_dilation=True,
            snippet_lengths=[3],
            init_infer_steps=[1],
            strides=[1],
            coalign_kwargs=None,
            refine_step=self.refine_step,
            refine_snippet_len=3,
            refine_start_dilation=6,
            generator=None,
            verbose=False,
            max_vae_bs=4,
            unload_snippet=False,
        )
        depth = out.depth_pred.float()  # (N, 1, h, w) affine-invariant depth, far = large
        return normalise_per_frame(depth[:, 0], near_is_large=False)
