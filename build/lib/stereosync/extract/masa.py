"""MASA (Li et al., CVPR 2024; the paper's tracker) as an optional box tracker.

MASA is not on PyPI (and the PyPI package named ``masa`` is unrelated): install it from its repository
with its mmdet/mmcv stack, see its README. The unified model (MASA + Grounding-DINO) detects the chosen
classes from a text prompt and tracks them. Not exercised by the tests here (not installable).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stereosync.extract.tracking import TrackFrame

_INSTALL = (
    "MASA is not installed: clone github.com/siyuanliii/masa and install it with its mmdet/mmcv "
    "requirements (see its README), or choose --tracker bytetrack"
)


class MasaTracker:
    """Boxes tracked by MASA.

    Args:
        config: MASA model config file (e.g. ``configs/masa-gdino/masa_gdino_swinb_inference.py``).
        checkpoint: its weights file.
        classes: detected classes (the text prompt).
        device: where it runs.
        score_threshold: minimum track score kept.
        fp16: half precision.
    """

    def __init__(
        self,
        config: str,
        checkpoint: str,
        classes: Sequence[str] = ("person",),
        device: str = "cuda",
        score_threshold: float = 0.2,
        fp16: bool = True,
    ):
        try:
            from masa.apis import build_test_pipeline, inference_masa, init_masa
        except ImportError as err:
            raise ImportError(_INSTALL) from err
        self._infer = inference_masa
        self.model = init_masa(config, checkpoint, device=device)
        self.pipeline = build_test_pipeline(self.model.cfg, with_text=True)
        self.prompt = " . ".join(classes)
        self.score_threshold, self.fp16 = score_threshold, fp16
        self.name = f"masa:{checkpoint}"
        self.reset()

    def reset(self) -> None:
        """Start a new video (MASA resets its memory at frame 0)."""
        self.frame_id = 0

    def update(self, frames: np.ndarray, times: np.ndarray) -> list[TrackFrame]:
        """(B, H, W, 3) uint8 RGB consecutive frames -> B ``{track id: normalised box}``."""
        h, w = frames.shape[1:3]
        scale = np.array([w, h, w, h], np.float32)
        out = []
        for img in frames:
            res = self._infer(
                self.model,
                np.ascontiguousarray(img[..., ::-1]),
                frame_id=self.frame_id,
                video_len=1 << 30,
                test_pipeline=self.pipeline,
                text_prompt=self.prompt,
                fp16=self.fp16,
            )
            inst = res[0].pred_track_instances if isinstance(res, list | tuple) else res.pred_track_instances
            keep = inst.scores.cpu().numpy() >= self.score_threshold
            boxes, ids = inst.bboxes.cpu().numpy()[keep], inst.instances_id.cpu().numpy()[keep]
            out.append({int(t): np.clip(b / scale, 0, 1).astype(np.float32) for t, b in zip(ids, boxes)})
            self.frame_id += 1
        return out
