"""Pictures of a synthetic scene: video frames, ground-truth depth maps and the mp4 (PyAV).

The scenes: docs/data.md#synthetic-scenes.

Frames show a checkered floor in perspective, a back wall and the characters (head with an eye on the side
they face, torso, two legs). At each footstep the landing foot comes down onto the floor and flashes for
0.1 s, and the other foot lifts during the swing, so the step timing is visible to optical flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from stereosync.data.scene import DIST_WALL, FRAME_WIDTH_PER_M, HORIZON_Y, NEAR_FOOT_Y, Track, foot_row, nearness

FOOT_DARK = np.array([35, 35, 40], np.uint8)
FOOT_FLASH = np.array([255, 240, 120], np.uint8)
FLASH_SECONDS = 0.1
LIFT = 0.12  # swing-foot lift, fraction of body height


def _floor_distance(rows: np.ndarray) -> np.ndarray:
    """Distance (m) of the floor seen at normalised rows; the back wall where the floor would be farther."""
    below = np.maximum(rows - HORIZON_Y, 1e-6)
    return np.minimum(2.0 * (NEAR_FOOT_Y - HORIZON_Y) / below, DIST_WALL)  # 2.0 = DIST_NEAR


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Static backdrop ``(H, W, 3)`` uint8: wall above ``foot_row(DIST_WALL)``, checkered floor below."""
    rows = (np.arange(height) + 0.5) / height
    cols = (np.arange(width) + 0.5) / width
    dist = _floor_distance(rows)[:, None]  # (H, 1)
    lateral = (cols[None, :] - 0.5) * FRAME_WIDTH_PER_M * dist  # metres from the centre line, (H, W)
    tile = rng.uniform(0.4, 0.8)
    checker = (np.floor(lateral / tile) + np.floor(dist / tile)) % 2  # (H, W)
    floor_a, floor_b, wall = (rng.integers(50, 200, 3) for _ in range(3))
    fade = (2.0 / dist) ** 0.5  # farther floor is darker
    floor = np.where(checker[..., None] > 0, floor_a, floor_b) * fade[..., None]
    wall_img = wall * (0.8 + 0.2 * rows[:, None, None]) * np.ones((1, width, 1))
    is_wall = (rows < foot_row(DIST_WALL))[:, None, None]
    return np.clip(np.where(is_wall, wall_img, floor), 0, 255).astype(np.uint8)


def depth_background(height: int, width: int) -> np.ndarray:
    """Ground-truth nearness of the empty room ``(h, w)`` float32 in [0, 1] (near = 1)."""
    rows = (np.arange(height) + 0.5) / height
    near = nearness(_floor_distance(rows))
    return np.repeat(near[:, None], width, axis=1).astype(np.float32)


def foot_states(step_t: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lift in [0, 1] and contact flash of both feet at times ``t``: two ``(len(t), 2)`` arrays.

    Steps alternate feet. After step j lands, the other foot swings (lifts along a half sine) until step j+1
    lands, unless the gap is a pause (> 0.8 s). A virtual step 0.45 s before the first lets it swing in.
    """
    steps = np.concatenate([[step_t[0] - 0.45], step_t]) if len(step_t) else np.zeros(0)
    lift, flash = np.zeros((len(t), 2)), np.zeros((len(t), 2), bool)
    if not len(steps):
        return lift, flash
    j = np.searchsorted(steps, t, side="right") - 1  # last landed step, (N,)
    valid = j >= 0
    jc = np.clip(j, 0, len(steps) - 1)
    nxt = np.clip(jc + 1, 0, len(steps) - 1)
    gap = steps[nxt] - steps[jc]
    swinging = valid & (nxt > jc) & (gap < 0.8)
    phase = np.clip((t - steps[jc]) / np.maximum(gap, 1e-6), 0, 1)
    landed = jc % 2
    rows = np.arange(len(t))
    lift[rows, 1 - landed] = np.where(swinging, np.sin(np.pi * phase), 0.0)
    flash[rows, landed] = valid & (jc >= 1) & (t - steps[jc] < FLASH_SECONDS)
    return lift, flash


def _rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour: np.ndarray) -> None:
    h, w = img.shape[:2]
    r0, r1 = int(np.clip(round(y0), 0, h)), int(np.clip(round(y1), 0, h))
    c0, c1 = int(np.clip(round(x0), 0, w)), int(np.clip(round(x1), 0, w))
    img[r0 : max(r1, r0 + 1) if r0 < h else r0, c0 : max(c1, c0 + 1) if c0 < w else c0] = colour


def _disc(img: np.ndarray, cx: float, cy: float, r: float, colour: np.ndarray) -> None:
    h, w = img.shape[:2]
    r0, r1 = max(int(cy - r), 0), min(int(cy + r) + 2, h)
    c0, c1 = max(int(cx - r), 0), min(int(cx + r) + 2, w)
    yy, xx = np.mgrid[r0:r1, c0:c1]
    img[r0:r1, c0:c1][(yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 <= r * r] = colour


def draw_character(
    img: np.ndarray, box: np.ndarray, face: int, lift: np.ndarray, flash: np.ndarray, colour: np.ndarray
) -> None:
    """Draw one character into ``img`` (H, W, 3) uint8 in place, inside ``box`` [x0, y0, x1, y1] (normalised)."""
    hgt, wid = img.shape[:2]
    x0, y0, x1, y1 = box * np.array([wid, hgt, wid, hgt])
    h, w, cx = y1 - y0, x1 - x0, 0.5 * (x0 + x1)
    skin = np.array([230, 190, 160], np.uint8)
    for k, side in enumerate((-1, 1)):
        lx, bottom = cx + side * 0.18 * w, y1 - lift[k] * LIFT * h
        _rect(img, lx - 0.1 * w, y0 + 0.58 * h, lx + 0.1 * w, bottom - 0.05 * h, colour // 2)
        fx = lx + face * 0.08 * w
        _rect(img, fx - 0.17 * w, bottom - 0.06 * h, fx + 0.17 * w, bottom, FOOT_FLASH if flash[k] else FOOT_DARK)
    _rect(img, cx - 0.32 * w, y0 + 0.19 * h, cx + 0.32 * w, y0 + 0.6 * h, colour)
    _disc(img, cx, y0 + 0.1 * h, 0.1 * h, skin)
    _disc(img, cx + face * 0.05 * h, y0 + 0.085 * h, max(0.025 * h, 0.8), FOOT_DARK)


def render_frames(
    rng: np.random.Generator, tracks: Sequence[Track], t: np.ndarray, height: int, width: int
) -> np.ndarray:
    """Video frames ``(N, H, W, 3)`` uint8 at times ``t`` (s); nearer characters are drawn last."""
    frames = np.repeat(background(rng, height, width)[None], len(t), axis=0)
    boxes = [tr.box(t) for tr in tracks]
    dists = np.stack([tr.position(t)[1] for tr in tracks]) if tracks else np.zeros((0, len(t)))
    faces = [tr.facing(t) for tr in tracks]
    feet = [foot_states(tr.step_t, t) for tr in tracks]
    for i in range(len(t)):
        for k in np.argsort(-dists[:, i]):
            draw_character(frames[i], boxes[k][i], int(faces[k][i]), feet[k][0][i], feet[k][1][i], tracks[k].colour)
    return frames


def render_depth(tracks: Sequence[Track], t: np.ndarray, height: int, width: int) -> np.ndarray:
    """Ground-truth depth maps ``(len(t), h, w)`` float32 in [0, 1] (near = 1): room plus character boxes."""
    base = depth_background(height, width)
    maps = np.repeat(base[None], len(t), axis=0)
    scale = np.array([width, height, width, height])
    for i, ti in enumerate(t):
        order = sorted(tracks, key=lambda tr: -float(tr.position(ti)[1]))
        for tr in order:
            x0, y0, x1, y1 = np.round(tr.box(np.array([ti]))[0] * scale).astype(int)
            near = nearness(tr.position(ti)[1])
            maps[i, y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)] = near
    return maps


def video_codec() -> str:
    """The best H.264-or-fallback encoder in PyAV's bundled FFmpeg (``libx264``, else ``mpeg4``)."""
    import av

    for name in ("libx264", "h264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001 - PyAV raises different types per version for unknown codecs
            continue
    raise RuntimeError("PyAV's FFmpeg has no libx264/h264/mpeg4 encoder")


def encode_mp4(path: str | Path, frames: np.ndarray, fps: float, audio: np.ndarray, sample_rate: int) -> Path:
    """Write an mp4: video ``(N, H, W, 3)`` uint8 at ``fps`` and stereo AAC ``(2, S)`` float in [-1, 1].

    Audio and video packets are interleaved in time order (AAC frames of 1024 samples).
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    codec = video_codec()
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if codec == "libx264":
            vs.options = {"crf": "20", "preset": "veryfast"}
        aus = out.add_stream("aac", rate=sample_rate, layout="stereo")
        pcm = np.ascontiguousarray(np.clip(audio, -1, 1), dtype=np.float32)
        chunks = _audio_frames(pcm, sample_rate)
        pending = next(chunks, None)
        for i, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts, vf.time_base = i, 1 / rate
            out.mux(vs.encode(vf))
            while pending is not None and pending.pts <= (i + 1) / fps * sample_rate:
                out.mux(aus.encode(pending))
                pending = next(chunks, None)
        while pending is not None:
            out.mux(aus.encode(pending))
            pending = next(chunks, None)
        out.mux(vs.encode(None))
        out.mux(aus.encode(None))
    return path


def _audio_frames(pcm: np.ndarray, sample_rate: int, hop: int = 1024):
    """PyAV audio frames of ``hop`` samples from ``(2, S)`` float32 PCM, pts in samples."""
    import av

    for pos in range(0, pcm.shape[1], hop):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm[:, pos : pos + hop]), format="fltp", layout="stereo"
        )
        frame.sample_rate, frame.pts, frame.time_base = sample_rate, pos, Fraction(1, sample_rate)
        yield frame
