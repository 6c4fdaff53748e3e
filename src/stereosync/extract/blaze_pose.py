"""MediaPipe's BlazePose person detector in torch: close-ups the HOG detector cannot see (docs/vision_presets.md).

The detector (``pose_detection.tflite`` of the ``mediapipe`` wheel, Apache-2.0; converted once by
:mod:`stereosync.extract.blaze_convert` into ``weights/blaze_pose_detector.safetensors``) looks at the frame
letterboxed to 224 x 224 and finds a person from the face and upper body: per SSD anchor a score and four
keypoints, the hip centre (0), a point whose distance from it is the radius of the circle around the whole
body (1), the shoulder centre (2) and the upper body's circle point (3). :class:`BlazePoseNet` executes the
converted graph; :func:`decode` turns its outputs into MediaPipe's detections (anchors, sigmoid scores,
weighted non-maximum suppression); :func:`person_boxes` turns the keypoints of an upright person into the
visible extent of the body (the body circle's height, clipped to the frame), which is what a close-up shows.

``python -m stereosync.extract.blaze_pose --check <reference.npz>`` compares this module with the TFLite
reference interpreter's outputs stored by the converter.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stereosync.extract.blaze_convert import letterbox_np
from stereosync.extract.footage_eval import box_iou

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "blaze_pose_detector.safetensors"
# MediaPipe's pose_detection graph: SSD anchors of feature maps 28, 14 and 7 (strides 8, 16, 32) with 2, 2
# and 6 anchors per cell (fixed size, centred in their cell); 12 regression values per anchor (box centre and
# size, four keypoints) in input pixels; scores are logits clipped to +-100.
STRIDES, PER_CELL = (8, 16, 32), (2, 2, 6)
# Keypoints -> visible body box (fitted per frame on hand-checked frames: experiments/blaze_box_fit.py): an
# upright person (body axis within MAX_TILT degrees of vertical), box centred between hips and shoulders,
# WIDTH x the body radius either side, from TOP x radius above the hips to BOTTOM x radius below.
MAX_TILT, WIDTH, TOP, BOTTOM = 30.0, 0.4, 1.0, 1.2


def anchors(size: int = 224) -> np.ndarray:
    """(N, 2) anchor centres, normalised, in the model's output order."""
    out = []
    for stride, n in zip(STRIDES, PER_CELL):
        fm = int(np.ceil(size / stride))
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        out.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], 1), n, axis=0))
    return np.concatenate(out).astype(np.float32)


class BlazePoseNet(torch.nn.Module):
    """The converted graph: (B, 3, S, S) float in [-1, 1] -> regressors (B, N, 12), score logits (B, N)."""

    def __init__(self, tensors: dict[str, torch.Tensor], graph: list[dict], io: dict):
        super().__init__()
        self.graph, self.io = graph, io
        tensors = {k: v.float() for k, v in tensors.items()}
        convs = [op for op in graph if op["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
        weights = [op["in"][1] for op in convs]
        if any(w not in tensors for w in weights) or len(set(weights)) != len(weights):
            raise ValueError("a convolution's weights are computed or shared: not a converted BlazePose graph")
        for op in convs:  # convolution weights laid out for torch once: TFLite OHWI / 1HWC -> OIHW
            order = (3, 0, 1, 2) if op["op"] == "DEPTHWISE_CONV_2D" else (0, 3, 1, 2)
            tensors[op["in"][1]] = tensors[op["in"][1]].permute(order).contiguous()
        self.names = sorted(tensors)
        for i, k in enumerate(self.names):
            self.register_buffer(f"c{i}", tensors[k])
        self._index = {k: i for i, k in enumerate(self.names)}

    @classmethod
    def from_file(cls, path: str | Path = WEIGHTS) -> BlazePoseNet:
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no BlazePose weights (python -m stereosync.extract.blaze_convert)")
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if "graph" not in meta:
                raise ValueError(f"{path}: not a converted BlazePose detector (no 'graph' in its metadata)")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        return cls(tensors, json.loads(meta["graph"]), json.loads(meta["io"]))

    def const(self, name: str) -> torch.Tensor:
        return getattr(self, f"c{self._index[name]}")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        env = {self.io["input"]: x}  # 4-D values are NCHW here (TFLite's are NHWC)
        for op in self.graph:
            args = [None if n is None else env[n] if n in env else self.const(n) for n in op["in"]]
            env[op["out"]] = _run(op, args)
        return env[self.io["regressors"]], env[self.io["scores"]][..., 0]


def _same_pad(x: torch.Tensor, k: tuple[int, int], stride: list[int]) -> torch.Tensor:
    """TFLite SAME padding (the extra pixel after)."""
    pads = []
    for size, kk, s in zip(x.shape[-2:], k, stride):
        total = max((-(-size // s) - 1) * s + kk - size, 0)
        pads.append((total // 2, total - total // 2))
    return F.pad(x, (*pads[1], *pads[0]))


def _act(x: torch.Tensor, act: str) -> torch.Tensor:
    """A fused activation of the converted graph."""
    if act == "relu":
        return F.relu(x)
    if act == "relu6":
        return F.hardtanh(x, 0.0, 6.0)
    return x


def _run(op: dict, a: list) -> torch.Tensor:
    kind = op["op"]
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x, w, b = a  # w: OIHW (laid out at load)
        depthwise = kind == "DEPTHWISE_CONV_2D"
        if op["padding"] == "same":
            x = _same_pad(x, tuple(w.shape[-2:]), op["stride"])
        y = F.conv2d(x, w, b, stride=tuple(op["stride"]), groups=x.shape[1] if depthwise else 1)
        return _act(y, op["act"])
    if kind == "ADD":
        return _act(a[0] + a[1], op["act"])
    if kind == "PAD":
        p = a[1].long().tolist()  # NHWC pairs
        return F.pad(a[0], (*p[2], *p[1], *p[3]))
    if kind == "RESHAPE":
        x = a[0].permute(0, 2, 3, 1) if a[0].dim() == 4 else a[0]
        return x.reshape([x.shape[0], *[int(v) for v in a[1].long().tolist()[1:]]])
    if kind == "CONCATENATION":
        axis = op["axis"] % a[0].dim()
        if a[0].dim() == 4:
            axis = (0, 2, 3, 1)[axis]
        return _act(torch.cat(a, dim=axis), op["act"])
    if kind == "DEPTH_TO_SPACE":  # TFLite's DCR order: channel = (i * block + j) * C + c
        x, bs = a[0], op["block"]
        n, c, h, w = x.shape
        x = x.reshape(n, bs, bs, c // bs**2, h, w).permute(0, 3, 4, 1, 5, 2)
        return x.reshape(n, c // bs**2, h * bs, w * bs)
    if kind == "RESIZE_BILINEAR":
        size = [int(v) for v in a[1].long().tolist()]
        if op["align_corners"]:
            return F.interpolate(a[0], size=size, mode="bilinear", align_corners=True)
        if op["half_pixel_centers"]:
            return F.interpolate(a[0], size=size, mode="bilinear", align_corners=False)
        return _resize_legacy(a[0], size)
    raise ValueError(f"operation {kind} is not supported")


def _resize_legacy(x: torch.Tensor, size: list[int]) -> torch.Tensor:
    """TFLite bilinear resize without half-pixel centres: source = destination x (in / out)."""
    out = x
    for dim, (n_in, n_out) in zip((2, 3), zip(x.shape[2:], size)):
        src = torch.arange(n_out, dtype=x.dtype, device=x.device) * (n_in / n_out)
        lo = src.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        frac = (src - lo.to(x.dtype)).view([-1 if d == dim else 1 for d in range(4)])
        out = out.index_select(dim, lo) * (1 - frac) + out.index_select(dim, hi) * frac
    return out


def decode(
    reg: np.ndarray, logits: np.ndarray, frame_hw: tuple[int, int], min_score: float = 0.1, size: int = 224
) -> tuple[np.ndarray, np.ndarray]:
    """One frame's raw outputs -> (keypoints (n, 4, 2) in frame pixels, scores (n,)), best first.

    MediaPipe's TensorsToDetections + weighted non-maximum suppression (IoU 0.3 on the anchor boxes): each
    kept detection averages the keypoints of the detections it suppresses, weighted by their scores; the
    letterbox is removed.
    """
    score = 1 / (1 + np.exp(-np.clip(logits.astype(np.float64), -100, 100)))
    keep = np.flatnonzero(score >= min_score)
    if len(keep) == 0:
        return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
    a = _anchors(size)[keep]
    d = reg[keep].astype(np.float64) / size
    centre = d[:, :2] + a
    box = np.concatenate([centre - d[:, 2:4] / 2, centre + d[:, 2:4] / 2], 1)
    kp = d[:, 4:12].reshape(-1, 4, 2) + a[:, None]
    s = score[keep]
    order = list(np.argsort(-s))
    out_kp, out_s = [], []
    while order:
        ious = box_iou(box[order[0]], box[order])
        group = [order[i] for i in np.flatnonzero(ious > 0.3)]
        w = s[group][:, None, None]
        out_kp.append((kp[group] * w).sum(0) / w.sum())
        out_s.append(s[order[0]])
        order = [order[i] for i in np.flatnonzero(ious <= 0.3)]
    h, w = frame_hw
    scale = size / max(h, w)
    nw, nh = round(w * scale), round(h * scale)
    px, py = (size - nw) // 2, (size - nh) // 2
    kp = np.asarray(out_kp) * size
    kp = (kp - [px, py]) / [nw / w, nh / h]
    return kp.astype(np.float32), np.asarray(out_s, np.float32)


@functools.cache
def _anchors(size: int) -> np.ndarray:
    return anchors(size)


def person_boxes(keypoints: np.ndarray, frame_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (n, 4, 2) in pixels -> (visible person boxes (m, 4) xyxy in pixels, indices (m,) of the upright
    detections they come from); see ``MAX_TILT``, ``WIDTH``, ``TOP``, ``BOTTOM``."""
    kp = np.asarray(keypoints, np.float64).reshape(-1, 4, 2)
    axis = kp[:, 1] - kp[:, 0]
    radius = np.hypot(axis[:, 0], axis[:, 1])
    tilt = np.degrees(np.arctan2(axis[:, 0], -axis[:, 1]))
    idx = np.flatnonzero(np.abs(tilt) <= MAX_TILT)
    cx = 0.5 * (kp[idx, 0, 0] + kp[idx, 2, 0])
    hip, r = kp[idx, 0, 1], radius[idx]
    h, w = frame_hw
    boxes = np.stack([cx - WIDTH * r, hip - TOP * r, cx + WIDTH * r, hip + BOTTOM * r], 1)
    boxes = np.clip(boxes, 0, [w, h, w, h])
    return boxes.astype(np.float32), idx


class BlazePose:
    """Frames -> upright person boxes and scores with the converted detector (CPU or GPU, batched)."""

    def __init__(self, weights: str | Path = WEIGHTS, device: str | torch.device = "cpu", min_score: float = 0.1):
        self.net = BlazePoseNet.from_file(weights).to(device).eval()
        self.device, self.min_score, self.size = torch.device(device), min_score, int(self.net.io["size"])

    @torch.inference_mode()
    def raw(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Letterboxed uint8 inputs (B, S, S, 3) -> raw regressors (B, N, 12) and logits (B, N)."""
        x = torch.from_numpy(np.ascontiguousarray(inputs)).to(self.device).permute(0, 3, 1, 2).float() / 127.5 - 1
        reg, logits = self.net(x)
        return reg.float().cpu().numpy(), logits.float().cpu().numpy()

    def __call__(self, frames: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """RGB frames (B, H, W, 3) uint8 -> per frame (boxes (n, 4) xyxy pixels, scores (n,)), best first."""
        frames = np.asarray(frames)
        reg, logits = self.raw(np.stack([letterbox_np(f, self.size) for f in frames]))
        out = []
        for r, lg in zip(reg, logits):
            kp, s = decode(r, lg, frames.shape[1:3], self.min_score, self.size)
            boxes, idx = person_boxes(kp, frames.shape[1:3])
            out.append((boxes, s[idx]))
        return out


def check(reference: str | Path, weights: str | Path = WEIGHTS) -> dict[str, float]:
    """Max abs difference between this module and the reference interpreter's stored outputs."""
    z = np.load(reference)
    reg, logits = BlazePose(weights).raw(z["inputs"])
    return {
        "frames": len(z["inputs"]),
        "regressors_max_abs_diff": float(np.abs(reg - z["regressors"]).max()),
        "regressors_max_abs": float(np.abs(z["regressors"]).max()),
        "logits_max_abs_diff": float(np.abs(logits - z["scores"][..., 0]).max()),
    }


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="compare the torch BlazePose detector with the reference outputs")
    p.add_argument("--check", required=True, help="reference .npz written by stereosync.extract.blaze_convert")
    p.add_argument("--weights", default=str(WEIGHTS))
    args = p.parse_args()
    print(json.dumps(check(args.check, args.weights)))
