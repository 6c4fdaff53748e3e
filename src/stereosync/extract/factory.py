"""Build the models of a run from names (local folders or hub ids) — the only place choosing backends."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from stereosync.extract._torch import resolve_device, resolve_dtype
from stereosync.extract.auto_vision import AUTO
from stereosync.extract.box_depth import BOX_DEPTH, ROOM_DEPTH
from stereosync.extract.depth import DEFAULT_DEPTH_MODEL
from stereosync.extract.detector import DEFAULT_DETECTOR
from stereosync.extract.features import Featurizer
from stereosync.extract.hog_detector import HOG_DETECTOR
from stereosync.extract.image_encoder import DEFAULT_IMAGE_ENCODER
from stereosync.extract.people_detector import POSE_PEOPLE
from stereosync.extract.tiny_depth import TINY_DEPTH
from stereosync.extract.tiny_detector import TINY_DETECTOR
from stereosync.extract.tiny_nets import is_tiny_weights

log = logging.getLogger(__name__)

# Field values a preset gives the fields left at their defaults (docs/vision_presets.md). ``tiny``: the shipped
# synthetic-domain detector and depth model, the tiny recipe's two character slots and no image encoder;
# ``people``: real footage without a download (OpenCV's HOG pedestrian detector and the shipped BlazePose
# detector 15 times a second, fused; tracks that must last before they count, reset at shot cuts and
# reported back to their first frame; depth maps drawn from the boxes); ``auto``: per video, whichever of the
# two fits (stereosync.extract.auto_vision). ``real``: the downloaded models of the paper's recipe.
_SMALL = {"image_encoder": "none", "depth_size": (36, 64), "num_objects": 2}
PRESETS: dict[str, dict[str, Any]] = {
    "real": {},
    "tiny": {**_SMALL, "depth_model": TINY_DEPTH, "detector": TINY_DETECTOR, "track_activation_threshold": 0.4},
    "people": {
        **_SMALL,
        "depth_backend": BOX_DEPTH,
        "detector": POSE_PEOPLE,
        "detector_rate": 15.0,
        "track_activation_threshold": 0.52,
        "track_min_frames": 4,
        "pose_shift": 0.2,
        "shot_cuts": 0.15,
        "track_backfill": 6,
        "track_confirm_score": 0.64,
    },
    AUTO: {**_SMALL, "depth_backend": AUTO, "detector": AUTO},
}
PRESET_HELP = {
    "auto": "per video: the tiny models on a synthetic scene, the people models on real footage (no download)",
    "people": "real footage, no download: HOG walkers + BlazePose close-ups, ByteTrack, depth drawn from the boxes",
    "tiny": "the synthetic scenes' shipped tiny detector and depth model (no download)",
    "real": "RT-DETR, Depth Anything V2 and CLIP (downloaded from the Hugging Face hub)",
}


def list_presets() -> dict[str, str]:
    """Preset names (for ``data.predict_models: {preset: ...}``) with a one-line description each, default first."""
    return dict(PRESET_HELP)


@dataclass
class ModelConfig:
    """Which models extract the features.

    Attributes:
        preset: ``real`` (the defaults below: Depth Anything V2, CLIP, RT-DETR), ``tiny`` (the shipped
            synthetic-domain depth model and detector, no image encoder, K = 2), ``people`` (OpenCV's HOG
            pedestrian detector fused with the shipped BlazePose detector, depth maps from the boxes, K = 2)
            or ``auto`` (``tiny`` or ``people`` per video); see :data:`PRESETS` and :func:`list_presets`. A
            preset sets the fields left at their defaults; fields given another value keep it.
        depth_backend: ``transformers``, ``rollingdepth``, ``tiny``, ``boxes`` (maps drawn from the tracked
            boxes), ``room`` (the synthetic empty room's map) or ``auto`` (the schema needs ``depth`` or
            ``depth_emb``); a ``.safetensors`` ``depth_model`` under ``transformers`` is a tiny depth model.
        depth_model: folder or hub id of a ``transformers`` depth model, RollingDepth's checkpoint, or a tiny
            depth model's ``.safetensors`` file (``pkg://`` URLs name files shipped in a package).
        image_encoder: ``transformers`` vision model folder/hub id, ``open_clip:<arch>:<checkpoint>``
            (e.g. the paper's ``open_clip:EVA01-g-14:/models/eva01_g14.bin``) or ``none`` (no ``depth_emb``).
        depth_size: (H, W) of the stored small depth maps; None stores none.
        tracker: ``bytetrack`` (detector + ByteTrack) or ``masa``.
        detector: ``transformers`` object-detector folder/hub id, a tiny detector's ``.safetensors`` file,
            ``opencv-hog-people``, ``hog-blazepose-people`` (HOG and the shipped BlazePose detector fused) or
            ``auto`` (ByteTrack only).
        detector_threshold: minimum detection score (keep it low: ByteTrack uses low-score boxes too).
        track_activation_threshold: ByteTrack score above which a detection may start a track.
        track_buffer: frames (at 30 fps) ByteTrack keeps a lost track for re-identification.
        track_match_threshold: ByteTrack matching threshold on 1 - IoU (higher = looser; small or fast
            objects re-acquire better with 0.9-0.95, crowded scenes swap ids less with 0.8).
        track_min_frames: consecutive 30-fps frames a ByteTrack track needs before it is reported (short tracks
            are mostly false detections).
        detector_rate: detections per second of video of ``opencv-hog-people`` and ``hog-blazepose-people``
            (each held on the 30-fps frames until the next; the other detectors see every frame).
        pose_shift: subtracted from BlazePose scores before they meet HOG's (``hog-blazepose-people``).
        shot_cuts: ByteTrack starts afresh at each shot cut, found where the colour histogram distance times
            the standardised grey difference of consecutive box-grid frames reaches this threshold
            (:class:`~stereosync.extract.shot_cuts.ShotCuts`); 0 or None (unless a preset sets it): no cuts.
        track_backfill: a new ByteTrack track also reports up to this many frames before its first, from the
            detections it chains back to (offline: :class:`~stereosync.extract.tracking.ByteTrackTracker`);
            0 or None (unless a preset sets it): none.
        track_confirm_score: a ByteTrack track is reported only once one of its detections scored at least
            this (then from its first frame in the tracker call on), so tracks may start from weaker
            detections than they need to count; None (unless a preset sets it): every track is reported.
        masa_config: MASA model config file (MASA only).
        masa_checkpoint: MASA weights file (MASA only).
        classes: detector labels to track.
        num_objects: K, tracks kept per chunk.
        clap_checkpoint: LAION-CLAP checkpoint file; None = random weights (tests only, warned).
        clap_fusion: the fusion variant of HTSAT-tiny (must match the checkpoint).
        envelope_mode: ``mono`` or ``stereo``.
        device: ``auto`` (GPU of ``LOCAL_RANK`` when available), ``cpu``, ``cuda:1``...
        precision: ``auto`` (float16 on GPU), ``float32``, ``float16``, ``bfloat16`` for the vision models.
        batch_size: frames per forward pass of each vision model.
    """

    preset: str = "real"
    depth_backend: str = "transformers"
    depth_model: str = DEFAULT_DEPTH_MODEL
    image_encoder: str = DEFAULT_IMAGE_ENCODER
    depth_size: tuple[int, int] | None = (36, 64)
    tracker: str = "bytetrack"
    detector: str = DEFAULT_DETECTOR
    detector_threshold: float = 0.1
    track_activation_threshold: float = 0.25
    track_buffer: int = 30
    track_match_threshold: float = 0.8
    track_min_frames: int = 1
    detector_rate: float = 5.0
    pose_shift: float = 0.2
    shot_cuts: float | None = None
    track_backfill: int | None = None
    track_confirm_score: float | None = None
    masa_config: str | None = None
    masa_checkpoint: str | None = None
    classes: tuple[str, ...] = ("person",)
    num_objects: int = 1
    clap_checkpoint: str | None = None
    clap_fusion: bool = True
    envelope_mode: str = "mono"
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 32

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        if self.depth_size is not None:
            self.depth_size = tuple(self.depth_size)
        self.classes = tuple(self.classes)
        defaults = {f.name: f.default for f in fields(self)}
        preset = dict(PRESETS[self.preset])
        chosen = [n for n in ("detector", "depth_model", "depth_backend") if getattr(self, n) != defaults[n]]
        if self.preset == AUTO and chosen:
            # models named explicitly are used as named: the per-video choice between two model sets is off
            log.info("predict_models: %s given, so preset auto does not choose the models", ", ".join(chosen))
            preset.pop("detector"), preset.pop("depth_backend")
        for name, value in preset.items():
            if getattr(self, name) == defaults[name]:
                setattr(self, name, value)


def build_featurizer(cfg: ModelConfig) -> tuple[Featurizer, dict[str, Any]]:
    """Load every model; returns the featurizer and the model names recorded in each sample json."""
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.precision, device)
    log.info("extraction models on %s (%s)", device, dtype)
    if AUTO in (cfg.detector, cfg.depth_backend) and (cfg.detector, cfg.depth_backend) != (AUTO, AUTO):
        raise ValueError("detector 'auto' and depth_backend 'auto' go together (preset: auto)")
    if cfg.detector == AUTO:
        tracker, depth = _auto(cfg, device, dtype)
    else:
        depth, tracker = _depth(cfg, device, dtype), _tracker(cfg, device, dtype)
    encoder = _image_encoder(cfg, device, dtype)

    from stereosync.clap import ClapAudioEncoder

    clap = ClapAudioEncoder(cfg.clap_checkpoint, enable_fusion=cfg.clap_fusion).to(device)
    featurizer = Featurizer(
        tracker=tracker,
        clap=clap,
        depth=depth,
        image_encoder=encoder,
        depth_size=cfg.depth_size,
        num_objects=cfg.num_objects,
        envelope_mode=cfg.envelope_mode,
    )
    names = {
        "depth_model": getattr(depth, "name", "none"),
        "image_encoder": getattr(encoder, "name", "none"),
        "tracker": tracker.name,
        "clap": f"{clap.name}:{cfg.clap_checkpoint or 'random'}",
        "classes": list(cfg.classes),
    }
    return featurizer, names


def build_tracker(cfg: ModelConfig):
    """Only the boxes backend of ``cfg`` (for measuring detectors and trackers without the other models)."""
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.precision, device)
    return _auto(cfg, device, dtype)[0] if cfg.detector == AUTO else _tracker(cfg, device, dtype)


def _depth(cfg: ModelConfig, device, dtype):
    if cfg.depth_backend in (BOX_DEPTH, ROOM_DEPTH):
        from stereosync.extract.box_depth import BoxDepth

        if cfg.depth_size is None or cfg.image_encoder != "none":
            raise ValueError(
                f"depth_backend {cfg.depth_backend!r} writes small maps only: needs depth_size and no image_encoder"
            )
        return BoxDepth(cfg.depth_size, cfg.depth_backend)
    if cfg.depth_backend == "tiny" or (cfg.depth_backend == "transformers" and is_tiny_weights(cfg.depth_model)):
        from stereosync.extract.tiny_depth import TinyDepth

        return TinyDepth.from_file(cfg.depth_model, device, cfg.batch_size, dtype)
    if cfg.depth_backend == "transformers":
        from stereosync.extract.depth import TransformersDepth

        return TransformersDepth.from_pretrained(cfg.depth_model, device, cfg.batch_size, dtype)
    if cfg.depth_backend == "rollingdepth":
        from stereosync.extract.rollingdepth import RollingDepthBackend

        return RollingDepthBackend(cfg.depth_model, device, dtype)
    raise ValueError(
        f"depth_backend must be transformers, rollingdepth, tiny, boxes or room, got {cfg.depth_backend!r}"
    )


def _image_encoder(cfg: ModelConfig, device, dtype):
    if cfg.image_encoder == "none":
        return None
    if cfg.image_encoder.startswith("open_clip:"):
        from stereosync.extract.image_encoder import OpenClipImageEncoder

        _, arch, ckpt = (cfg.image_encoder.split(":", 2) + [None])[:3]
        return OpenClipImageEncoder(arch, ckpt, device, cfg.batch_size, dtype)
    from stereosync.extract.image_encoder import TransformersImageEncoder

    return TransformersImageEncoder.from_pretrained(cfg.image_encoder, device, cfg.batch_size, dtype)


def _tracker(cfg: ModelConfig, device, dtype):
    if cfg.tracker == "masa":
        from stereosync.extract.masa import MasaTracker

        if not (cfg.masa_config and cfg.masa_checkpoint):
            raise ValueError("--tracker masa needs --masa-config and --masa-checkpoint")
        return MasaTracker(cfg.masa_config, cfg.masa_checkpoint, cfg.classes, str(device))
    if cfg.tracker != "bytetrack":
        raise ValueError(f"tracker must be bytetrack or masa, got {cfg.tracker!r}")
    from stereosync.extract.shot_cuts import ShotCuts
    from stereosync.extract.tracking import ByteTrackTracker

    return ByteTrackTracker(
        _detector(cfg, device, dtype),
        track_activation_threshold=cfg.track_activation_threshold,
        lost_track_buffer=cfg.track_buffer,
        minimum_matching_threshold=cfg.track_match_threshold,
        minimum_consecutive_frames=cfg.track_min_frames,
        cuts=ShotCuts(cfg.shot_cuts) if cfg.shot_cuts else None,
        backfill=cfg.track_backfill or 0,
        confirm_score=cfg.track_confirm_score,
    )


def _detector(cfg: ModelConfig, device, dtype):
    if cfg.detector == POSE_PEOPLE:
        from stereosync.extract.people_detector import HogPoseDetector

        return HogPoseDetector(
            cfg.classes, cfg.detector_threshold, rate=cfg.detector_rate, pose_shift=cfg.pose_shift, device=str(device)
        )
    if cfg.detector == HOG_DETECTOR:
        from stereosync.extract.hog_detector import HogPeopleDetector

        return HogPeopleDetector(cfg.classes, cfg.detector_threshold, rate=cfg.detector_rate)
    if is_tiny_weights(cfg.detector):
        from stereosync.extract.tiny_detector import TinyDetector

        return TinyDetector.from_file(cfg.detector, cfg.classes, cfg.detector_threshold, device, cfg.batch_size, dtype)
    from stereosync.extract.detector import TransformersDetector

    return TransformersDetector.from_pretrained(
        cfg.detector, cfg.classes, cfg.detector_threshold, device, cfg.batch_size, dtype
    )


def _auto(cfg: ModelConfig, device, dtype):
    """The ``auto`` preset's tracker and depth backend: both presets' models behind one per-video choice."""
    from stereosync.extract.auto_vision import AutoChoice, AutoDepth, AutoTracker
    from stereosync.extract.tiny_detector import TinyDetector

    common = {"device": cfg.device, "precision": cfg.precision, "batch_size": cfg.batch_size}
    subs = {name: ModelConfig(preset=name, **common) for name in ("tiny", "people")}
    probe = TinyDetector.from_file(subs["tiny"].detector, device=device, batch_size=cfg.batch_size, dtype=dtype)
    choice = AutoChoice(probe, min_score=subs["tiny"].track_activation_threshold)
    tracker = AutoTracker(choice, {k: _tracker(c, device, dtype) for k, c in subs.items()})
    return tracker, AutoDepth(choice, {k: _depth(c, device, dtype) for k, c in subs.items()})
