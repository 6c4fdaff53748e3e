"""Training targets and losses of the tiny detector (CenterNet-style) and the augmentation both models share."""

from __future__ import annotations

import numpy as np
import torch


def detector_targets(boxes: list[np.ndarray], grid: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    """Per-image normalised boxes (n_i, 4) -> heatmap (B, h, w), regression (B, 4, h, w), its mask (B, h, w).

    The heatmap is an elliptic Gaussian per box (sigma = box size / 6 in cells, at least 0.5) peaking at 1 in
    the centre cell; regression holds the centre's offset in its cell and log width/height in cells.
    """
    h, w = grid
    b = len(boxes)
    heat = np.zeros((b, h, w), np.float32)
    reg = np.zeros((b, 4, h, w), np.float32)
    mask = np.zeros((b, h, w), np.float32)
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    for i, bx in enumerate(boxes):
        for x0, y0, x1, y1 in np.asarray(bx, np.float64).reshape(-1, 4) * [w, h, w, h]:
            bw, bh = max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)
            cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
            ix, iy = min(int(cx), w - 1), min(int(cy), h - 1)
            sx, sy = max(bw / 6, 0.5), max(bh / 6, 0.5)
            g = np.exp(-((xs - ix) ** 2) / (2 * sx * sx) - ((ys - iy) ** 2) / (2 * sy * sy))
            heat[i] = np.maximum(heat[i], g)
            reg[i, :, iy, ix] = (cx - ix, cy - iy, np.log(bw), np.log(bh))
            mask[i, iy, ix] = 1.0
    return torch.from_numpy(heat), torch.from_numpy(reg), torch.from_numpy(mask)


def detector_loss(out: torch.Tensor, heat: torch.Tensor, reg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Penalty-reduced focal loss on the centre heatmap plus L1 on offset and log size at centres."""
    p = torch.sigmoid(out[:, 0]).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    pos_loss = -(torch.log(p) * (1 - p) ** 2 * pos).sum()
    neg_loss = -(torch.log(1 - p) * p**2 * (1 - heat) ** 4 * (1 - pos)).sum()
    n = pos.sum().clamp(min=1)
    l1 = ((out[:, 1:] - reg).abs() * mask[:, None]).sum() / mask.sum().clamp(min=1)
    return (pos_loss + neg_loss) / n + l1


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Photometric jitter of a (B, 3, H, W) batch in [-1, 1]: contrast, brightness, per-channel gain, noise."""
    b = x.shape[0]
    contrast = 1 + 0.2 * (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1)
    bright = 0.1 * (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1)
    gain = 1 + 0.05 * (torch.rand(b, 3, 1, 1, generator=gen) * 2 - 1)
    noise = 0.02 * torch.randn(x.shape, generator=gen)
    return (x * contrast * gain + bright + noise).clamp(-1, 1)
