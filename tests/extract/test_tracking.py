"""The tracker for real: ByteTrack fed by an oracle detector (ground truth + noise, false positives, drops).

The oracle stands in for the detector model only; decoding, the 30-fps timestamp grid, ByteTrack, the
choice of the longest track and the shard writing are the real pipeline.
"""

from __future__ import annotations

import numpy as np
import supervision as sv

from stereosync.extract.tracking import select_tracks


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of (N, 4) boxes [x0, y0, x1, y1]."""
    iw = (np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])).clip(0)
    ih = (np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])).clip(0)
    inter = iw * ih
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


class OracleDetector:
    """Ground-truth boxes of a scene, degraded like a real detector.

    Per frame: the character's box with Gaussian noise (sigma 3 % of its width/height per coordinate) and
    a score in [0.5, 0.95] (10 % of frames a low score in [0.12, 0.24], below ByteTrack's activation
    threshold, so only its second association can keep them); 12 % of frames plus one 8-frame burst
    (an occlusion, shorter than ByteTrack's 30-frame lost buffer) have no detection of it; a static
    "statue" false positive is detected in 40 % of frames; 30 % of frames add a random short-lived box.
    """

    name = "oracle"

    def __init__(self, scene, seed: int = 0):
        self.scene, self.rng = scene, np.random.default_rng(seed)
        n = len(scene.boxes)
        self.dropped = self.rng.random(n) < 0.12
        start = self.rng.integers(20, n - 40)
        self.dropped[start : start + 8] = True
        self.fed: dict[int, np.ndarray] = {}  # frame index -> the noisy character box given (normalised)

    def __call__(self, frames: np.ndarray, times: np.ndarray) -> list:
        h, w = frames.shape[1:3]
        scale = np.array([w, h, w, h], np.float32)
        out = []
        for t in times:
            i = int(round(t * self.scene.video_fps))
            boxes, scores = [], []
            gt = self.scene.boxes[i, 0]
            if self.scene.box_mask[i, 0] and not self.dropped[i]:
                size = np.array([gt[2] - gt[0], gt[3] - gt[1]] * 2)
                noisy = np.clip(gt + self.rng.normal(0, 0.03, 4) * size, 0, 1)
                self.fed[i] = noisy
                boxes.append(noisy)
                scores.append(self.rng.uniform(0.12, 0.24) if self.rng.random() < 0.1 else self.rng.uniform(0.5, 0.95))
            if self.rng.random() < 0.4:
                boxes.append(np.array([0.05, 0.3, 0.12, 0.6]) + self.rng.normal(0, 0.003, 4))
                scores.append(self.rng.uniform(0.4, 0.8))
            if self.rng.random() < 0.3:
                x, y = self.rng.uniform(0, 0.9, 2)
                boxes.append(np.array([x, y, x + 0.05, y + 0.1]))
                scores.append(self.rng.uniform(0.3, 0.9))
            xyxy = (np.array(boxes, np.float32).reshape(-1, 4) * scale).astype(np.float32)
            out.append(
                sv.Detections(xyxy=xyxy, confidence=np.array(scores, np.float32), class_id=np.zeros(len(boxes), int))
            )
        return out


def test_tracked_character_matches_ground_truth(synthetic_videos, make_featurizer, read_shards, run, tmp_path):
    """Mean IoU of the kept track against the true box, over frames where both exist, must exceed 0.85.

    Why 0.85: the noise alone leaves the fed boxes at a mean IoU of about 0.9 with the truth (computed
    below from the boxes actually fed, and ByteTrack returns the matched detection's box), while every
    frame on a wrong object (the statue, a random box) scores 0. So 0.85 fails once more than ~6 % of the
    present frames follow the wrong object. Presence: the mask is off where the detection was dropped, and
    also where the track fragmented: scene 13's character runs at 3 px/frame with a 10-px-wide box and
    stops dead, so after the occlusion the Kalman prediction misses it and ByteTrack starts a new id; the
    chunk then keeps only the longer fragment. Requiring 80 % of the frames that had a detection allows about
    one such fragment in the nine chunks (measured: 0.73 of 0.82, IoU 0.91 of 0.91).
    """
    videos, scenes = synthetic_videos
    ious, fed_ious, recall, expected_recall = [], [], [], []
    for name, scene in scenes.items():
        listing = tmp_path / f"{name}.txt"
        listing.write_text(str(videos / name) + "\n")
        oracle = OracleDetector(scene, seed=scene.seed)
        out = tmp_path / name
        run(listing, out, make_featurizer(detector=oracle, num_objects=1, cheap=True), chunks_per_batch=3)
        for sample in read_shards(out).values():
            i0 = int(round(sample["json"]["start"] * scene.video_fps))
            idx = np.arange(i0, i0 + 60)
            gt, gt_mask = scene.boxes[idx, 0], scene.box_mask[idx, 0]
            boxes, mask = sample["boxes"][:, 0], sample["box_mask"][:, 0]
            both = mask & gt_mask
            ious.append(iou(boxes[both], gt[both]))
            fed = [j for j in idx if j in oracle.fed]
            fed_ious.append(iou(np.array([oracle.fed[j] for j in fed]), scene.boxes[fed, 0]))
            recall.append(mask[gt_mask].mean())
            expected_recall.append(np.isin(idx[gt_mask], fed).mean())
    mean_iou, mean_fed = np.concatenate(ious).mean(), np.concatenate(fed_ious).mean()
    print(
        f"track IoU {mean_iou:.3f} (fed detections {mean_fed:.3f}); presence {np.mean(recall):.3f} "
        f"(detections present {np.mean(expected_recall):.3f})"
    )
    assert mean_fed > 0.85  # the degradation is what the docstring says
    assert mean_iou > 0.85
    assert mean_iou > mean_fed - 0.03
    assert np.mean(recall) > 0.8 * np.mean(expected_recall)


def test_select_tracks_keeps_the_longest_and_masks_gaps():
    a, b, c = (np.array([0.1, 0.1, 0.2, 0.2], np.float32) * k for k in (1, 2, 3))
    frames = [{7: a, 3: b}, {7: a}, {7: a, 9: c}, {9: c}, {3: b, 9: c}]
    boxes, mask = select_tracks(frames, k=2)
    # track 9 and 7 both appear 3 times; 7 is seen first -> slot 0; 3 (twice) is dropped
    assert mask.tolist() == [[True, False], [True, False], [True, True], [False, True], [False, True]]
    assert np.allclose(boxes[0, 0], a) and np.allclose(boxes[4, 1], c)
    assert np.all(boxes[~mask] == 0)
    boxes, mask = select_tracks([{}, {}], k=3)
    assert boxes.shape == (2, 3, 4) and not mask.any()
