"""The ``people`` preset's detector: OpenCV's HOG walkers and BlazePose's close-ups, fused (docs/vision_presets.md).

HOG (:mod:`.hog_detector`) finds upright, mostly whole people; MediaPipe's BlazePose detector
(:mod:`.blaze_pose`) finds a person from the face and upper body, so it sees the close-ups HOG cannot (a
cyclist cut at the waist) but misses the small walkers HOG finds. Both run on the same frames; a BlazePose
box scores its detector score minus ``pose_shift`` (so only a confident BlazePose detection can start a
ByteTrack track), and the union of both detectors' boxes goes through non-maximum suppression.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stereosync.extract.footage_eval import box_iou
from stereosync.extract.hog_detector import HogPeopleDetector, hog_people, svm_confidence

POSE_PEOPLE = "hog-blazepose-people"


def fuse(
    hog_boxes: np.ndarray,
    hog_conf: np.ndarray,
    pose_boxes: np.ndarray,
    pose_scores: np.ndarray,
    pose_shift: float,
    iou: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Both detectors' boxes (xyxy, any unit) -> the fused boxes (n, 4) and confidences (n,), best first.

    A BlazePose box's confidence is its score minus ``pose_shift`` (clipped at 0); boxes overlapping a
    better one by IoU >= ``iou`` are dropped (greedy non-maximum suppression over the union).
    """
    boxes = np.concatenate([np.asarray(hog_boxes, np.float32).reshape(-1, 4), np.asarray(pose_boxes).reshape(-1, 4)])
    conf = np.concatenate(
        [np.asarray(hog_conf, np.float32).reshape(-1), np.clip(np.asarray(pose_scores).reshape(-1) - pose_shift, 0, 1)]
    ).astype(np.float32)
    order = np.argsort(-conf, kind="stable")
    keep: list[int] = []
    for i in order:
        b = boxes[i]
        if keep and (box_iou(b, boxes[keep]) >= iou).any():
            continue
        keep.append(int(i))
    return boxes[keep].astype(np.float32), conf[keep]


class HogPoseDetector(HogPeopleDetector):
    """HOG + BlazePose, ``rate`` times per second of video (each result held until the next, as HOG alone).

    Args:
        classes: labels to keep; it knows only ``person``.
        threshold: minimum fused confidence of a returned box.
        rate: detections per second of video.
        pose_shift: subtracted from BlazePose scores (see :func:`fuse`).
        device: where BlazePose runs.
        name: recorded in the sample json.
    """

    def __init__(
        self,
        classes: Sequence[str] = ("person",),
        threshold: float = 0.1,
        rate: float = 15.0,
        pose_shift: float = 0.2,
        device: str = "cpu",
        name: str = POSE_PEOPLE,
    ):
        super().__init__(classes, threshold, rate, name=name)
        if not 0 <= pose_shift < 1:
            raise ValueError(f"pose_shift must be in [0, 1) (subtracted from BlazePose scores), got {pose_shift!r}")
        from stereosync.extract.blaze_pose import BlazePose

        self.pose, self.pose_shift = BlazePose(device=device), pose_shift

    def detect(self, frame: np.ndarray):
        """One frame (H, W, 3) -> ``supervision.Detections`` of the fused boxes scoring at least ``threshold``."""
        hog_boxes, margins = hog_people(frame, self.upscale)
        ((pose_boxes, scores),) = self.pose(frame[None])
        return self.detections(*fuse(hog_boxes, svm_confidence(margins), pose_boxes, scores, self.pose_shift))
