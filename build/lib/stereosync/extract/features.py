"""Chunks -> schema members: depth maps and embeddings, tracked boxes, motion, CLAP embedding, envelope.

One :class:`Featurizer` holds the models of a run. Chunks arrive in groups (several chunks per model
call, so the GPU sees large batches) and in video order, because the tracker carries identities across
chunks. Chunks already committed by an earlier run are still tracked (so identities are the same as in an
uninterrupted run) but not otherwise computed. Overlapping chunks share box frames: each frame goes through
the tracker once, in time order. A chunk of a silent video (no audio) gets no audio-derived member (CLAP,
envelope).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from stereosync.envelope import rms_envelope
from stereosync.extract.decode import Chunk
from stereosync.extract.depth import DepthBackend, resize_maps
from stereosync.extract.image_encoder import ImageEncoder
from stereosync.extract.tracking import BoxTracker, select_tracks

ClapFn = Callable[[torch.Tensor, int], torch.Tensor]  # (B, C, T) audio, Hz -> (B, 512)


@dataclass
class Featurizer:
    """The models of a run.

    Attributes:
        tracker: boxes backend (detector + ByteTrack, or MASA).
        clap: CLAP audio encoder, ``(B, C, T), sample_rate -> (B, 512)``.
        depth: depth backend (every sample needs ``depth`` and/or ``depth_emb``).
        image_encoder: depth-frame encoder for ``depth_emb``; None stores only the small maps.
        depth_size: (H, W) of the stored ``depth`` maps; None stores only ``depth_emb``.
        num_objects: K tracked objects per chunk.
        envelope_mode: ``"mono"`` (default) or ``"stereo"``, see :func:`stereosync.envelope.rms_envelope`.
    """

    tracker: BoxTracker
    clap: ClapFn
    depth: DepthBackend
    image_encoder: ImageEncoder | None = None
    depth_size: tuple[int, int] | None = (36, 64)
    num_objects: int = 1
    envelope_mode: str = "mono"

    def __post_init__(self):
        if self.image_encoder is None and self.depth_size is None:
            raise ValueError("store small depth maps (depth_size) and/or their embeddings (image_encoder)")
        self._tracked: dict[int, dict] = {}

    def reset(self) -> None:
        """A new video starts."""
        self.tracker.reset()
        self._tracked: dict[int, dict] = {}  # box-grid index -> tracks of that frame

    def _track(self, chunks: Sequence[Chunk]) -> list[list[dict]]:
        """Per chunk, the tracks of each of its box frames; frames already tracked are not fed again."""
        fps = 1.0 / float(np.median(np.diff(chunks[0].box_times))) if len(chunks[0].box_times) > 1 else 30.0
        index = [np.round(c.box_times * fps).astype(int) for c in chunks]
        last = max(self._tracked, default=-1)
        frames, times, new = [], [], []
        for c, idx in zip(chunks, index):
            for j, k in enumerate(idx):
                if k > last and k not in new:
                    frames.append(c.box_frames[j])
                    times.append(c.box_times[j])
                    new.append(int(k))
        if frames:
            for k, tracks in zip(new, self.tracker.update(np.stack(frames), np.asarray(times))):
                self._tracked[k] = tracks
        out = [[self._tracked[int(k)] for k in idx] for idx in index]
        keep = int(index[-1][0]) - 1  # the next group starts at or after the last chunk's first frame
        for k in [k for k in self._tracked if k < keep]:
            del self._tracked[k]
        return out

    def __call__(self, chunks: Sequence[Chunk], needed: Sequence[bool], sample_rate: int) -> list[dict | None]:
        """Members of each chunk (``None`` where not needed).

        Args:
            chunks: consecutive chunks of one video.
            needed: which chunks to compute (the others only advance the tracker).
            sample_rate: audio rate of the chunks in Hz.

        Returns:
            Per chunk ``{"boxes" (FB, K, 4), "box_mask" (FB, K), "motion" (FB, M), "clap" (512,),
            "depth" (FD, H, W), "depth_emb" (FD, D), "envelope" (2, S)}`` (depth members only when configured;
            no ``clap``/``envelope`` for a chunk without audio) or None.
        """
        from stereosync.motion import motion_features

        tracks = self._track(chunks)
        todo = [i for i, n in enumerate(needed) if n]
        out: list[dict | None] = [None] * len(chunks)
        if not todo:
            return out
        for i in todo:
            c = chunks[i]
            boxes, mask = select_tracks(tracks[i], self.num_objects)
            out[i] = {
                "boxes": boxes,
                "box_mask": mask,
                "motion": motion_features(c.box_frames, boxes, mask, previous=c.previous_box_frame),
            }
            if c.audio is not None:
                out[i]["envelope"] = self.envelope(c, sample_rate)
        voiced = [i for i in todo if chunks[i].audio is not None]
        if voiced:
            audio = torch.from_numpy(np.stack([chunks[i].audio for i in voiced]))  # (B, 2, S)
            clap = self.clap(audio, sample_rate).float().cpu().numpy()  # (B, 512)
            for j, i in enumerate(voiced):
                out[i]["clap"] = clap[j]
        self._depth([chunks[i] for i in todo], [out[i] for i in todo])
        return out

    def envelope(self, chunk: Chunk, sample_rate: int) -> np.ndarray:
        """(2, S) RMS envelope of the chunk; the audio history gives the causal windows their true past."""
        audio = torch.from_numpy(np.concatenate([chunk.history, chunk.audio], axis=1))
        env = rms_envelope(audio, sample_rate, mode=self.envelope_mode)  # (2, H + S)
        return env[:, chunk.history.shape[1] :].numpy().astype(np.float32)

    def _depth(self, chunks: Sequence[Chunk], out: list[dict]) -> None:
        fd = len(chunks[0].depth_frames)
        if getattr(self.depth, "needs_boxes", False):  # maps drawn from the tracked boxes (no depth model)
            for members in out:
                members["depth"] = self.depth.from_boxes(members["boxes"], members["box_mask"], fd)
            return
        maps = self.depth(np.concatenate([c.depth_frames for c in chunks]))  # (B * FD, h, w), near = 1
        small = resize_maps(maps, self.depth_size).numpy() if self.depth_size else None
        emb = self.image_encoder(maps).numpy() if self.image_encoder is not None else None
        for j, members in enumerate(out):
            if small is not None:
                members["depth"] = small[j * fd : (j + 1) * fd].astype(np.float32)
            if emb is not None:
                members["depth_emb"] = emb[j * fd : (j + 1) * fd].astype(np.float32)
