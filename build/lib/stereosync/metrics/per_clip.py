"""Per-clip test values for the output writer: E-L1 and the spatial AV-Align counts of output and reference."""

from __future__ import annotations

from typing import Any

import torch

from stereosync.metrics.functional import e_l1_per_clip, spatial_av_align_counts


def clip_records(
    keys: list[str],
    generated: torch.Tensor,
    target: torch.Tensor,
    sample_rate: int,
    boxes: torch.Tensor,
    box_mask: torch.Tensor,
) -> list[dict[str, Any]]:
    """One record per clip: ``key``, ``e_l1`` and ``spatial_{tp,fn}`` of the output and of the reference.

    Args:
        keys: the clips' sample keys.
        generated: generated stereo audio (B, 2, T).
        target: reference stereo audio (B, 2, T).
        sample_rate: of both, Hz.
        boxes: (B, F, K, 4) tracked boxes; box_mask: (B, F, K) which are present.
    """
    e_l1 = e_l1_per_clip(generated, target, sample_rate)
    clips = []
    for i, key in enumerate(keys):
        tp, fn = spatial_av_align_counts(generated[i], sample_rate, boxes[i], box_mask[i])
        tp_ref, fn_ref = spatial_av_align_counts(target[i], sample_rate, boxes[i], box_mask[i])
        clips.append(
            {
                "key": key,
                "e_l1": float(e_l1[i]),
                "spatial_tp": int(tp),
                "spatial_fn": int(fn),
                "spatial_tp_reference": int(tp_ref),
                "spatial_fn_reference": int(fn_ref),
            }
        )
    return clips
