"""AV-Align (Yariv et al. 2024, current reference version; docs/metrics.md): IoU of audio onsets and motion peaks.

Audio peaks: ``librosa.onset.onset_detect`` on the mono waveform at 22,050 Hz (``librosa.load``'s default rate
and resampler). Video peaks: per frame, mean Farnebäck optical-flow magnitude to the previous frame (OpenCV,
parameters 0.5, 3, 15, 3, 5, 1.2, 0; the first frame repeats the first pair); a peak is a strict local maximum
≥ 0.1 px, at time index / fps. An audio peak matches the first unused video peak within ±1/fps (one-to-one);
IoU = matches / (|A| + |V| − matches).
"""

from __future__ import annotations

import numpy as np

ONSET_SAMPLE_RATE = 22050
FLOW_PEAK_THRESHOLD = 0.1
# cv2.calcOpticalFlowFarneback(pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags)
FARNEBACK_PARAMS = (0.5, 3, 15, 3, 5, 1.2, 0)


def _cv2():
    try:
        import cv2
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ImportError("AV-Align needs OpenCV: pip install opencv-python-headless") from err
    return cv2


def audio_peaks(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset times of a mono waveform.

    Args:
        audio: (T,) mono waveform.
        sample_rate: Hz; resampled to 22,050 Hz as ``librosa.load`` does.

    Returns:
        (A,) onset times in seconds.
    """
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    if sample_rate != ONSET_SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=ONSET_SAMPLE_RATE, res_type="soxr_hq")
    env = librosa.onset.onset_strength(y=y, sr=ONSET_SAMPLE_RATE)
    onsets = librosa.onset.onset_detect(onset_envelope=env, sr=ONSET_SAMPLE_RATE)
    return librosa.frames_to_time(onsets, sr=ONSET_SAMPLE_RATE)


def flow_magnitudes(frames: np.ndarray) -> np.ndarray:
    """Mean optical-flow magnitude per frame.

    Args:
        frames: (F, H, W, 3) uint8 RGB frames, F ≥ 2.

    Returns:
        (F,) mean Farnebäck flow magnitude in pixels; entry i is frames i−1 → i, entry 0 repeats entry 1.
    """
    cv2 = _cv2()
    if len(frames) < 2:
        raise ValueError(f"AV-Align needs at least 2 frames, got {len(frames)}")
    gray = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
    mags = []
    for prev, cur in zip(gray[:-1], gray[1:]):
        flow = cv2.calcOpticalFlowFarneback(prev, cur, None, *FARNEBACK_PARAMS)
        mags.append(float(cv2.magnitude(flow[..., 0], flow[..., 1]).mean()))
    return np.asarray([mags[0], *mags])


def video_peaks(magnitudes: np.ndarray, fps: float, threshold: float = FLOW_PEAK_THRESHOLD) -> np.ndarray:
    """Times of strict local maxima ≥ ``threshold`` of a flow-magnitude series.

    Args:
        magnitudes: (F,) mean flow magnitude per frame (pixels).
        fps: frame rate of the series.
        threshold: minimum peak height in pixels.

    Returns:
        (V,) peak times in seconds (frame index / fps).
    """
    m = np.asarray(magnitudes)
    mid = m[1:-1]
    is_peak = (m[:-2] < mid) & (mid > m[2:]) & (mid >= threshold)
    return (np.flatnonzero(is_peak) + 1) / fps


def count_matches(a_peaks: np.ndarray, v_peaks: np.ndarray, fps: float) -> int:
    """Greedy one-to-one matches: each audio peak (in order) takes the first unused video peak within ±1/fps."""
    v = np.asarray(v_peaks, dtype=np.float64)
    used = np.zeros(len(v), dtype=bool)
    matches = 0
    for a in a_peaks:
        free = np.flatnonzero(~used & (v - 1.0 / fps <= a) & (a <= v + 1.0 / fps))
        if len(free):
            used[free[0]] = True
            matches += 1
    return matches


def peaks_iou(a_peaks: np.ndarray, v_peaks: np.ndarray, fps: float) -> float:
    """IoU = matches / (|A| + |V| − matches); NaN when there are no peaks at all (the reference divides by 0)."""
    m = count_matches(a_peaks, v_peaks, fps)
    union = len(a_peaks) + len(v_peaks) - m
    return m / union if union else float("nan")


def av_align(audio: np.ndarray, sample_rate: int, frames: np.ndarray, fps: float) -> float:
    """AV-Align of one clip.

    Args:
        audio: (C, T) or (T,) waveform; channels are averaged (``librosa.load(mono=True)``).
        sample_rate: Hz.
        frames: (F, H, W, 3) uint8 RGB video frames.
        fps: video frame rate.

    Returns:
        IoU in [0, 1]; NaN if neither modality has a peak.
    """
    mono = np.asarray(audio, dtype=np.float32)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    return peaks_iou(audio_peaks(mono, sample_rate), video_peaks(flow_magnitudes(frames), fps), fps)
