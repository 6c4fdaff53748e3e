"""Plain helpers shared by tests (importable: `tests/` is on pytest's pythonpath)."""

from __future__ import annotations

import numpy as np

from stereosync.data.schema import make_meta


def good_sample(key: str = "clip_000", sr: int = 16000, k: int = 1) -> dict:
    rng = np.random.default_rng(0)
    return {
        "__key__": key,
        "json": make_meta("video.mp4", 0.0, sample_rate=sr),
        "audio": rng.uniform(-1, 1, (2, 2 * sr)).astype(np.float32),
        "depth": rng.uniform(0, 1, (8, 9, 16)).astype(np.float32),
        "boxes": np.tile(np.array([0.1, 0.2, 0.3, 0.9], np.float32), (60, k, 1)),
        "box_mask": np.ones((60, k), bool),
        "clap": rng.normal(size=512).astype(np.float32),
    }


def tiny_depth_anything():
    """A randomly initialised Depth Anything (transformers) of tiny width, and its image processor."""
    import torch
    import transformers as T

    torch.manual_seed(0)
    backbone = T.Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        patch_size=14,
        image_size=56,
        reshape_hidden_states=False,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    cfg = T.DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        patch_size=14,
    )
    processor = T.DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14)
    return T.DepthAnythingForDepthEstimation(cfg), processor


def tiny_rtdetr():
    """A randomly initialised RT-DETR (transformers) of tiny width with labels person/car, and its processor."""
    import torch
    import transformers as T

    torch.manual_seed(0)
    backbone = T.RTDetrResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 32, 32], depths=[1, 1, 1, 1], out_features=["stage2", "stage3", "stage4"]
    )
    cfg = T.RTDetrConfig(
        backbone_config=backbone,
        encoder_hidden_dim=16,
        encoder_in_channels=[16, 32, 32],
        d_model=16,
        decoder_layers=1,
        encoder_layers=1,
        decoder_ffn_dim=32,
        encoder_ffn_dim=32,
        num_queries=20,
        decoder_attention_heads=2,
        encoder_attention_heads=2,
        decoder_in_channels=[16, 16, 16],
        num_denoising=0,
        id2label={0: "person", 1: "car"},
        label2id={"person": 0, "car": 1},
    )
    return T.RTDetrForObjectDetection(cfg), T.RTDetrImageProcessor(size={"height": 64, "width": 64})


def tiny_module(backbone, seed: int | None = 0, **overrides):
    """The tiny full StereoSync (all four streams, 2-block ControlNet) on ``backbone``; ``overrides`` replace or
    add constructor arguments. ``seed`` (None: leave the RNG alone) makes the trainable initialisation repeatable."""
    import torch

    from stereosync.lightning_module import StereoSync
    from stereosync.models.encoders import BoxEncoder, ClapEncoder, DepthEncoder
    from stereosync.models.envelope_control import EnvelopeControl

    if seed is not None:
        torch.manual_seed(seed)
    args = dict(
        depth=DepthEncoder(128, source="maps"),
        boxes=BoxEncoder(128, num_objects=2),
        clap=ClapEncoder(128),
        envelope=EnvelopeControl(),
        controlnet_depth_factor=0.5,
    )
    args.update(overrides)
    return StereoSync(backbone, **args)


def silent_mp4(scene, path):
    """A synthetic scene's frames as an mp4 (MPEG-4 video at 30 fps) without an audio stream; returns ``path``."""
    from pathlib import Path

    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=30)
        s.width, s.height, s.pix_fmt = scene.frames.shape[2], scene.frames.shape[1], "yuv420p"
        for img in scene.frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode(None))
    return path
