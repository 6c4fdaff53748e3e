"""Fixtures of the extraction tests: tiny random models of the real classes, synthetic mp4s, a bad-input zoo.

Nothing is downloaded: every model is built from a small config of the same ``transformers`` class the
defaults load (Depth Anything, CLIP vision, RT-DETR), and LAION-CLAP keeps random weights.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


# ---------------------------------------------------------------- tiny models of the real classes
@pytest.fixture(scope="package")
def tiny_depth():
    from helpers import tiny_depth_anything

    from stereosync.extract.depth import TransformersDepth

    model, processor = tiny_depth_anything()
    return TransformersDepth(model, processor, batch_size=16, name="tiny-depth")


@pytest.fixture(scope="package")
def tiny_image_encoder():
    import transformers as T

    from stereosync.extract.image_encoder import TransformersImageEncoder

    torch.manual_seed(0)
    cfg = T.CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        projection_dim=16,
    )
    processor = T.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return TransformersImageEncoder(T.CLIPVisionModelWithProjection(cfg), processor, name="tiny-clip")


@pytest.fixture(scope="package")
def tiny_detector():
    from helpers import tiny_rtdetr

    from stereosync.extract.detector import TransformersDetector

    model, processor = tiny_rtdetr()
    return TransformersDetector(model, processor, classes=("person",), threshold=0.0, name="tiny-rtdetr")


@pytest.fixture(scope="package")
def clap():
    from stereosync.clap import ClapAudioEncoder

    torch.manual_seed(0)
    return ClapAudioEncoder(None)


class CentreDetector:
    """A stand-in detector for tests about bookkeeping, not models: one fixed box per frame, score 0.9."""

    name = "centre"

    def __call__(self, frames: np.ndarray, times: np.ndarray) -> list:
        import supervision as sv

        h, w = frames.shape[1:3]
        box = np.array([[0.4 * w, 0.3 * h, 0.6 * w, 0.9 * h]], np.float32)
        return [
            sv.Detections(xyxy=box, confidence=np.array([0.9], np.float32), class_id=np.zeros(1, int)) for _ in times
        ]


def pooled_clap(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """A stand-in for CLAP in bookkeeping tests: (B, C, T) -> (B, 512), deterministic and cheap."""
    pooled = torch.nn.functional.adaptive_avg_pool1d(audio.abs().mean(dim=1, keepdim=True), 512)[:, 0]
    return torch.nn.functional.normalize(pooled + 1e-6, dim=-1)


@pytest.fixture
def make_featurizer(tiny_depth, tiny_image_encoder, tiny_detector, clap):
    """``make_featurizer(detector=None, num_objects=1, cheap=False)``: a Featurizer over the tiny models.

    ``cheap=True`` swaps the detector and CLAP (the slow parts on a CPU) for stand-ins, for tests of
    decoding and bookkeeping; the end-to-end test uses every real model class.
    """
    from stereosync.extract.features import Featurizer
    from stereosync.extract.tracking import ByteTrackTracker

    def make(detector=None, num_objects: int = 1, cheap: bool = False, **kw):
        detector = detector or (CentreDetector() if cheap else tiny_detector)
        return Featurizer(
            tracker=ByteTrackTracker(detector),
            clap=pooled_clap if cheap else clap,
            depth=tiny_depth,
            image_encoder=tiny_image_encoder,
            depth_size=(36, 64),
            num_objects=num_objects,
            **kw,
        )

    return make


# ---------------------------------------------------------------- synthetic scenes as mp4s
@pytest.fixture(scope="package")
def synthetic_videos(tmp_path_factory):
    """Three 6-s synthetic scenes (seeds 11, 12, 13) as mp4s in a folder; returns (folder, {name: Scene})."""
    from stereosync.data.synthetic import generate_scene, write_mp4

    root = tmp_path_factory.mktemp("synthetic_mp4")
    scenes = {}
    for seed in (11, 12, 13):
        scene = generate_scene(seed, duration=6.0, max_characters=1)
        write_mp4(scene, root / f"scene{seed}.mp4")
        scenes[f"scene{seed}.mp4"] = scene
    return root, scenes


# ---------------------------------------------------------------- media writer for the zoo and decode tests
def write_media(
    path: Path,
    seconds: float = 2.5,
    fps: float | None = 30.0,
    size: tuple[int, int] = (160, 96),
    sample_rate: int | None = 44100,
    layout: str = "stereo",
    frame_times: np.ndarray | None = None,
    tone_hz: float = 440.0,
    max_frames: int | None = None,
) -> Path:
    """Write a test file with PyAV.

    Args:
        path: output file (container from the extension).
        seconds: length of the audio (and of the video, unless ``frame_times`` / ``max_frames`` say otherwise).
        fps: constant video rate; None writes no video stream.
        size: (width, height).
        sample_rate: audio rate; None writes no audio stream.
        layout: audio channel layout (``mono``, ``stereo``, ``5.1``).
        frame_times: explicit frame timestamps in s (variable frame rate); overrides ``fps`` timing.
        tone_hz: audio tone; channel c gets amplitude 0.1 * (c + 1) so channel handling is visible.
        max_frames: stop the video after this many frames (0 writes a video stream with no frame).

    Frame i is filled with the grey level ``7 * (i % 36)`` so a decoded frame tells which source frame it is
    (steps of 7 survive x264's rounding; steps of 1 between frames do not).
    """
    import av

    w, h = size
    with av.open(str(path), "w") as out:
        vs = aus = None
        if fps is not None:
            vs = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001) if frame_times is None else 1000)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            vs.options = {"preset": "ultrafast", "crf": "10"}
            if frame_times is not None:
                vs.codec_context.time_base = Fraction(1, 1000)
        if sample_rate is not None:
            aus = out.add_stream("aac", rate=sample_rate, layout=layout)
        if vs is not None:
            times = frame_times if frame_times is not None else np.arange(int(round(seconds * fps))) / fps
            for i, t in enumerate(times[:max_frames]):
                frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), 7 * (i % 36), np.uint8), format="rgb24")
                if frame_times is not None:
                    frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
                else:
                    frame.pts = i
                out.mux(vs.encode(frame))
            out.mux(vs.encode(None))
        if aus is not None:
            n, channels = int(seconds * sample_rate), len(av.AudioLayout(layout).channels)
            tone = np.sin(2 * np.pi * tone_hz * np.arange(n) / sample_rate).astype(np.float32)
            pcm = np.stack([0.1 * (c + 1) * tone for c in range(channels)])
            for s in range(0, n, 1024):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(pcm[:, s : s + 1024]), format="fltp", layout=layout
                )
                frame.sample_rate, frame.pts, frame.time_base = sample_rate, s, Fraction(1, sample_rate)
                out.mux(aus.encode(frame))
            out.mux(aus.encode(None))
    return path


@pytest.fixture(scope="package")
def media_writer():
    return write_media


@pytest.fixture(scope="package")
def zoo(tmp_path_factory, synthetic_videos):
    """The bad-input zoo plus good and awkward-but-valid files.

    Returns ``(folder, expected)``: expected maps file name -> the error type its manifest line must have,
    or ``None`` for files that must produce samples with no manifest line.
    """
    root = tmp_path_factory.mktemp("zoo")
    src_dir, _ = synthetic_videos
    good = (src_dir / "scene11.mp4").read_bytes()
    expected: dict[str, str | None] = {}

    def add(name, error):
        expected[name] = error
        return root / name

    (add("good.mp4", None)).write_bytes(good)
    add("not_a_video.mp4", "NotAVideoError").write_text("this is a text file, not a video\n" * 20)
    add("truncated.mp4", "UnreadableContainerError").write_bytes(good[: len(good) // 2])
    write_media(add("no_audio.mp4", "NoAudioStreamError"), sample_rate=None)
    write_media(add("audio_only.mp4", "NoVideoStreamError"), fps=None)
    write_media(add("zero_frames.mkv", "ZeroFramesError"), max_frames=0)  # mp4 would drop the empty track
    write_media(add("too_short.mp4", "TooShortError"), seconds=1.2)
    write_media(add("portrait.mp4", None), size=(96, 160))
    write_media(add("large_4k.mp4", None), seconds=2.2, fps=5, size=(3840, 2160))
    write_media(add("mono_22k.mp4", None), sample_rate=22050, layout="mono")
    write_media(add("surround_48k.mp4", None), sample_rate=48000, layout="5.1")
    # corrupt bytes mid-stream: packets there fail to decode, the chunks around them are dropped
    data = bytearray(good)
    mid = len(data) // 2
    data[mid : mid + 4000] = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    add("corrupt_mid.mp4", "CorruptStreamError").write_bytes(bytes(data))
    return root, expected


# ---------------------------------------------------------------- running the pipeline and reading its shards
def _read_shards(out: Path) -> dict[str, dict]:
    """All samples of all final shards in ``out``: key -> decoded sample, each validated; fails on duplicates."""
    import tarfile

    from stereosync.data.schema import decode_member, validate

    samples: dict[str, dict] = {}
    for shard in sorted(out.glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, ext = member.name.split(".", 1)
                name, value = decode_member(ext, tar.extractfile(member).read(), shard=str(shard), key=key)
                assert name not in samples.setdefault(key, {"__key__": key}), f"duplicate member {key}.{ext}"
                samples[key][name] = value
    for key, sample in samples.items():
        validate(sample, shard=str(out), key=key)
    return samples


def _run(inputs, out, featurizer, **kw):
    from stereosync.extract.pipeline import ExtractConfig, run_extraction

    return run_extraction(ExtractConfig(inputs=str(inputs), out=str(out), progress_bar=False, **kw), featurizer)


@pytest.fixture(scope="package")
def read_shards():
    return _read_shards


@pytest.fixture(scope="package")
def run():
    """``run(inputs, out, featurizer, **ExtractConfig fields) -> summary``."""
    return _run
