"""Spatial control: the tracked boxes on the latent time grid, as a second ControlNet input.

The paper feeds the video's spatial streams only as cross-attention tokens, read by a frozen DiT whose
cross-attention was pretrained on seconds tokens. A latent frame must then find the token of its own time and
object among ~100 and read an x-position from a Fourier code through a projection it never saw in pretraining;
at high noise the trained tiny model predicts a stereo image pulled towards the centre.

This stream (a departure from the paper, off in the paper-faithful recipe) gives the ControlNet the same
information aligned in time: per box frame and tracked object k, its presence and masked box geometry —
centre x and y mapped to [-1, 1] (the horizontal centre in the parametric-stereo latent's pan units,
p = 2x − 1), width and height — optionally with that object's motion columns (``stereosync.motion``: what moves
in the top and bottom halves of its box, the cue to *which* of two characters steps). A small temporal conv
stack turns those rows into ``dim`` channels at box rate; they are linearly resampled to the latent frames and
reach the ControlNet's input through a zero-initialised 1×1 conv (``ControlNet.spatial_conv``), so training
starts from the plain ControlNet.

Classifier-free guidance: by default this signal is not dropped, so guidance acts on the tokens only and both of
its branches see the boxes on the latent grid. With ``guided=True`` the spatial control belongs to the null
condition: the training dropout (``model.cfg_dropout``) removes it together with the tokens, and the negative
branch of guidance runs the ControlNet without it, so a guidance scale above 1 pushes the stereo image along the
boxes instead of leaving the model's hedged, centre-pulled estimate as it is.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from stereosync.motion import num_features as motion_width

_GEOMETRY = 5  # present, centre x, centre y, width, height


class SpatialControl(nn.Module):
    """Boxes (B, F, K, 4) + mask (B, F, K) [+ motion (B, F, M)] → (B, dim, L) features on the latent grid.

    Args:
        num_objects: K, tracked objects per frame (as the box stream's).
        dim: output channels (the ControlNet's zero-initialised ``spatial_conv`` maps them to the latent's).
        hidden: width of the temporal conv stack.
        kernel_size: temporal kernel of the convs, in box frames (odd).
        motion: also read the per-object motion columns of the ``motion`` member.
        guided: the signal joins classifier-free guidance's null condition (dropped with the tokens in training,
            absent from the negative branch at sampling; see the module docstring).
    """

    def __init__(
        self,
        num_objects: int = 1,
        dim: int = 64,
        hidden: int = 64,
        kernel_size: int = 5,
        motion: bool = False,
        guided: bool = False,
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"SpatialControl kernel_size must be odd, got {kernel_size}")
        self.num_objects, self.dim, self.motion, self.guided = num_objects, dim, motion, guided
        self.motion_cols = self.object_motion_columns(num_objects) if motion else []
        per_object = _GEOMETRY + (len(self.motion_cols[0]) if motion else 0)
        pad = kernel_size // 2
        self.net = nn.Sequential(
            nn.Conv1d(num_objects * per_object, hidden, kernel_size, padding=pad),
            nn.GELU(),
            nn.Conv1d(hidden, hidden, kernel_size, padding=pad),
            nn.GELU(),
            nn.Conv1d(hidden, dim, 1),
        )

    @property
    def batch_keys(self) -> tuple[str, ...]:
        return ("boxes", "box_mask", "motion") if self.motion else ("boxes", "box_mask")

    @staticmethod
    def object_motion_columns(num_objects: int) -> list[list[int]]:
        """Per object, the indices of its motion columns (its box's top and bottom halves)."""
        from stereosync.motion import feature_names

        names = feature_names(num_objects)
        return [[i for i, n in enumerate(names) if n.startswith(f"box{k}_")] for k in range(num_objects)]

    def rows(self, boxes: torch.Tensor, box_mask: torch.Tensor, motion: torch.Tensor | None) -> torch.Tensor:
        """(B, F, K·per_object) input rows at box rate."""
        if boxes.dim() != 4 or boxes.shape[2] != self.num_objects or boxes.shape[-1] != 4:
            raise ValueError(f"SpatialControl expects boxes (B, F, {self.num_objects}, 4), got {tuple(boxes.shape)}")
        present = box_mask.float().unsqueeze(-1)  # (B, F, K, 1)
        b = boxes.float()
        geometry = torch.stack(
            [b[..., 0] + b[..., 2] - 1, b[..., 1] + b[..., 3] - 1, b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]], -1
        )
        parts = [present, geometry * present]
        if self.motion:
            if motion is None:
                raise KeyError("SpatialControl(motion=true) needs the batch member 'motion' (shard schema 2)")
            expected = motion_width(self.num_objects)
            if motion.shape[-1] != expected or motion.shape[1] != boxes.shape[1]:
                raise ValueError(
                    f"SpatialControl expects motion (B, {boxes.shape[1]}, {expected}) for "
                    f"{self.num_objects} objects, got {tuple(motion.shape)}"
                )
            m = motion.float()
            m = torch.sign(m) * torch.log1p(m.abs())  # diff and flow span decades: compress like the predictor
            per_object = torch.stack([m[..., cols] for cols in self.motion_cols], dim=2)  # (B, F, K, Mk)
            parts.append(per_object * present)
        return torch.cat(parts, dim=-1).flatten(2)

    def forward(self, batch: dict) -> torch.Tensor:
        """(B, dim, F) features at box rate (:func:`to_latent_grid` resamples them)."""
        rows = self.rows(batch["boxes"], batch["box_mask"], batch.get("motion"))
        return self.net(rows.transpose(1, 2))


def to_latent_grid(features: torch.Tensor, latent_frames: int) -> torch.Tensor:
    """(B, D, F) features over the chunk at box rate → (B, D, L) over the same chunk on the latent grid."""
    return F.interpolate(features, size=latent_frames, mode="linear", align_corners=False)
