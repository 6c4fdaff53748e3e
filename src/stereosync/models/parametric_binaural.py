"""A weight-free *parametric-binaural* latent: a mono waveform patch plus interaural cues per latent frame.

The binaural sibling of :mod:`stereosync.models.parametric_stereo`. A constant-power pan cannot describe what the
ears hear: a source to the left reaches the left ear up to ~0.7 ms earlier (interaural time difference, ITD)
and louder by an amount that grows with frequency (interaural level difference, ILD: a few dB below 1 kHz, up
to ~20 dB at high frequencies for the KEMAR head). Each latent frame of ``patch_size`` samples holds

* ``patch_size`` channels: the mono signal ``m``, and
* ``cue_channels`` channels: the frame's cues, each repeated ``cue_channels / (1 + bands)`` times (blocks in the
  order ITD, ILD of band 1 … band n): the ITD divided by ``max_itd_ms`` and each band's ILD divided by
  ``max_ild_db``, both in [−1, 1] and times ``cue_scale``. Positive = the left ear leads / is louder (a source
  on the left, positive azimuth).

All processing is in a short-time Fourier domain (``window``-sample Hann, hop ``hop``). The cues of STFT frame k
are the latent frames' cues interpolated linearly between frame centres, so they change smoothly across frames.
Decoding gives each ear ``M · g · e^{±jωτ/2}``: a fractional advance (left) or delay (right) by half the ITD and
per-bin gains ``g_L = 10^(ILD(f)/40)``, ``g_R = 10^(−ILD(f)/40)``, where ILD(f) is piecewise linear in frequency
between the band centres. Encoding estimates the cues per latent frame from the ears' spectra summed over the
STFT frames that the frame's interpolation reaches (a triangle two latent frames wide):

* ITD: the GCC-PHAT peak within ±``max_itd_ms`` on a grid of ``itd_step`` samples, over bins no more than 50 dB
  below the frame's strongest;
* ILD per band: 10 log10 of the ears' energy ratio in the band;
* mono: the least-squares source for the interpolated cues, ``M = Σ_ear conj(a_ear) X_ear / Σ_ear |a_ear|²``.

So a single source whose ITD and ILDs change slowly (the synthetic scenes' footsteps, rendered through KEMAR
HRIRs) round-trips with its interaural cues; the spectral colouring common to both ears stays in the mono.
Frames quieter than ``floor_db`` (dBFS RMS over both ears) lean to zero cues: their ITD and ILDs are room tone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

_BIN_RANGE_DB = 50.0  # GCC-PHAT bins more than this below the frame's strongest carry no weight


class ParametricBinauralPretransform(nn.Module):
    """Binaural audio (B, 2, T) ↔ latent (B, patch_size + cue_channels, T / patch_size); no parameters.

    Duck-types stable-audio-tools' ``Pretransform`` like
    :class:`~stereosync.models.parametric_stereo.ParametricStereoPretransform`; built by
    :class:`~stereosync.models.backbone.Backbone` from a model config whose pretransform is
    ``{"type": "parametric_binaural", "config": {...}}``.

    Args:
        sample_rate: audio rate in Hz (band edges and delays are in physical units).
        patch_size: audio samples per latent frame.
        cue_channels: latent channels holding the cues; a multiple of ``1 + len(band_edges_hz) + 1``.
        band_edges_hz: inner edges of the ILD bands (ascending, inside (0, sample_rate / 2)); n edges give n + 1
            bands.
        max_itd_ms: the ITD range searched and its normalisation.
        max_ild_db: ILD normalisation; larger ILDs are clipped.
        cue_scale: stored cues are ``cue / max * cue_scale`` (the waveform channels' magnitude, so one
            ``latent_scale`` normalises the whole latent).
        floor_db: RMS level (dBFS over both ears) below which a frame's cues tend to zero.
        window: STFT window (samples, Hann), at least ``4·hop`` and a multiple of it.
        hop: STFT hop (samples); divides ``patch_size`` and is at most ``window / 4``.
        itd_step: ITD search grid in samples.
    """

    is_discrete = False
    enable_grad = False
    output_format = "binaural"  # what decode returns: ears, not loudspeaker channels

    def __init__(
        self,
        sample_rate: int = 16000,
        patch_size: int = 256,
        cue_channels: int = 32,
        band_edges_hz: Sequence[float] = (1500.0, 4000.0),
        max_itd_ms: float = 0.8,
        max_ild_db: float = 30.0,
        cue_scale: float = 0.2,
        floor_db: float = -60.0,
        window: int = 256,
        hop: int = 64,
        itd_step: float = 0.05,
    ):
        super().__init__()
        edges = [float(e) for e in band_edges_hz]
        n_cues = len(edges) + 2
        problems = []
        if patch_size < 1 or cue_channels < 1 or cue_scale <= 0 or max_itd_ms <= 0 or max_ild_db <= 0:
            problems.append("patch_size, cue_channels, cue_scale, max_itd_ms, max_ild_db must be > 0")
        if cue_channels % n_cues:
            problems.append(
                f"cue_channels={cue_channels} is not a multiple of the {n_cues} cues (ITD + {n_cues - 1} ILDs)"
            )
        if edges != sorted(edges) or any(not 0 < e < sample_rate / 2 for e in edges):
            problems.append(f"band_edges_hz={edges} must ascend inside (0, {sample_rate / 2:g})")
        if hop < 1 or patch_size % hop or window < 4 * hop or window % hop:
            problems.append(f"hop={hop} must divide patch_size={patch_size} and window={window} ≥ 4·hop")
        if problems:
            raise ValueError("parametric_binaural: " + "; ".join(problems))
        self.sample_rate, self.patch_size, self.cue_channels = int(sample_rate), int(patch_size), int(cue_channels)
        self.edges, self.n_cues, self.copies = edges, n_cues, cue_channels // n_cues
        self.max_itd = max_itd_ms * 1e-3 * sample_rate  # samples
        self.max_ild_db, self.cue_scale = float(max_ild_db), float(cue_scale)
        self.floor = 10 ** (floor_db / 20)
        self.window, self.hop, self.itd_step = int(window), int(hop), float(itd_step)
        self.n_fft = self.window
        self.io_channels = 2
        self.downsampling_ratio = self.patch_size
        self.encoded_channels = self.patch_size + self.cue_channels

    # --- the time-frequency grid ----------------------------------------------------------------------------
    def _freqs(self, device: torch.device) -> torch.Tensor:
        return torch.arange(self.n_fft // 2 + 1, device=device, dtype=torch.float64) * self.sample_rate / self.n_fft

    def _stft(self, x: torch.Tensor) -> torch.Tensor:
        """(..., T) → (..., F, K) complex128, frame k centred on sample k·hop."""
        win = torch.hann_window(self.window, dtype=torch.float64, device=x.device)
        flat = x.reshape(-1, x.shape[-1]).double()
        spec = torch.stft(flat, self.n_fft, self.hop, self.window, win, center=True, return_complex=True)
        return spec.reshape(*x.shape[:-1], *spec.shape[-2:])

    def _istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        win = torch.hann_window(self.window, dtype=torch.float64, device=spec.device)
        flat = spec.reshape(-1, *spec.shape[-2:])
        out = torch.istft(flat, self.n_fft, self.hop, self.window, win, center=True, length=length)
        return out.reshape(*spec.shape[:-2], length)

    def _hat(self, frames: int, latents: int, device: torch.device) -> torch.Tensor:
        """(K, L) linear-interpolation weights of STFT frame k on latent frame l (triangle, 2 patches wide)."""
        t = torch.arange(frames, device=device, dtype=torch.float64) * self.hop
        c = (torch.arange(latents, device=device, dtype=torch.float64) + 0.5) * self.patch_size
        return (1 - (t[:, None] - c[None, :]).abs() / self.patch_size).clamp(min=0)

    def _interpolate(self, cues: torch.Tensor, frames: int) -> torch.Tensor:
        """Latent-frame cues (B, n, L) → STFT-frame cues (B, n, K); constant beyond the first/last centre."""
        hat = self._hat(frames, cues.shape[-1], cues.device)
        hat = hat / hat.sum(1, keepdim=True).clamp(min=1e-12)
        return cues.double() @ hat.T

    def _ild_per_bin(self, ild: torch.Tensor) -> torch.Tensor:
        """Band ILDs (B, bands, K) dB → (B, F, K), piecewise linear between band centres, flat beyond them."""
        bounds = [0.0, *self.edges, self.sample_rate / 2]
        centres = [(a + b) / 2 for a, b in zip(bounds[:-1], bounds[1:])]
        pos = torch.from_numpy(np.interp(self._freqs(torch.device("cpu")).numpy(), centres, range(len(centres))))
        lo = pos.floor().long().clamp(max=len(centres) - 1).to(ild.device)
        hi = (lo + 1).clamp(max=len(centres) - 1)
        frac = (pos.to(ild.device) - lo.double())[None, :, None]
        return ild[:, lo] * (1 - frac) + ild[:, hi] * frac

    def _steering(self, itd: torch.Tensor, ild: torch.Tensor, frames: int) -> torch.Tensor:
        """Per-ear transfer (B, 2, F, K) for latent cues itd (B, L) samples and ild (B, bands, L) dB."""
        cues = self._interpolate(torch.cat([itd[:, None], ild], 1), frames)
        tau, ild_bin = cues[:, 0], self._ild_per_bin(cues[:, 1:])  # (B, K), (B, F, K)
        omega = 2 * math.pi * self._freqs(itd.device) / self.sample_rate  # rad per sample
        phase = omega[None, :, None] * tau[:, None, :] / 2
        gain = 10 ** (ild_bin / 40)
        left = gain * torch.polar(torch.ones_like(phase), phase)  # advanced by τ/2
        right = torch.polar(1 / gain, -phase)  # delayed by τ/2
        return torch.stack([left, right], 1)

    # --- cue estimation -------------------------------------------------------------------------------------
    def _band_of_bin(self, device: torch.device) -> torch.Tensor:
        return torch.bucketize(self._freqs(device), torch.tensor(self.edges, dtype=torch.float64, device=device))

    def estimate_cues(self, spec: torch.Tensor, latents: int) -> tuple[torch.Tensor, torch.Tensor]:
        """ITD (B, L) in samples and band ILDs (B, bands, L) in dB from ear spectra (B, 2, F, K)."""
        hat = self._hat(spec.shape[-1], latents, spec.device)  # (K, L)
        power = spec.abs().square()  # (B, 2, F, K)
        energy = power @ hat  # (B, 2, F, L)
        cross = (spec[:, 0] * spec[:, 1].conj()) @ hat.to(spec.dtype)  # (B, F, L)
        # GCC-PHAT over bins within 50 dB of the frame's strongest
        total = energy.sum(1)  # (B, F, L)
        keep = total > total.amax(1, keepdim=True) * 10 ** (-_BIN_RANGE_DB / 10)
        phat = torch.where(keep, cross / cross.abs().clamp(min=1e-30), torch.zeros_like(cross))
        lags = torch.arange(-self.max_itd, self.max_itd + 1e-9, self.itd_step, dtype=torch.float64, device=spec.device)
        omega = 2 * math.pi * self._freqs(spec.device) / self.sample_rate
        basis = torch.polar(torch.ones(len(omega), len(lags), dtype=torch.float64, device=spec.device),
                            -omega[:, None] * lags[None, :])  # fmt: skip
        corr = torch.einsum("bfl,fn->bln", phat, basis).real  # (B, L, lags)
        itd = lags[corr.argmax(-1)]
        # band ILDs with the floor's energy added to both ears, so quiet bands read ~0 dB
        band = self._band_of_bin(spec.device)
        n_bands = len(self.edges) + 1
        per_band = torch.zeros(*energy.shape[:2], n_bands, energy.shape[-1], dtype=energy.dtype, device=spec.device)
        per_band.index_add_(2, band, energy)  # (B, 2, bands, L)
        # a white floor at floor_db has E|X_f|² = floor² · Σ window² per bin and STFT frame
        bin_floor = self.floor**2 * (self.window * 0.375) * hat.sum(0)  # (L,)
        bins = torch.bincount(band, minlength=n_bands).to(energy.dtype)  # (bands,)
        floor = bins[:, None] * bin_floor[None, :]  # (bands, L)
        ild = 10 * torch.log10((per_band[:, 0] + floor) / (per_band[:, 1] + floor))
        level = per_band.sum((1, 2))  # (B, L)
        loud = level / (level + 2 * floor.sum(0))  # → 0 for frames below the floor
        return itd * loud, ild.clamp(-self.max_ild_db, self.max_ild_db) * loud[:, None]

    # --- the pretransform -------------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != 2:
            raise ValueError(f"parametric_binaural encodes binaural audio (B, 2, T), got shape {tuple(x.shape)}")
        pad = -x.shape[-1] % self.patch_size
        x = nn.functional.pad(x, (0, pad))
        latents = x.shape[-1] // self.patch_size
        spec = self._stft(x)  # (B, 2, F, K)
        itd, ild = self.estimate_cues(spec, latents)
        steer = self._steering(itd, ild, spec.shape[-1])
        mono_spec = (steer.conj() * spec).sum(1) / steer.abs().square().sum(1)
        mono = self._istft(mono_spec, x.shape[-1]).reshape(x.shape[0], latents, self.patch_size)
        cues = torch.cat([(itd / self.max_itd)[:, None], ild / self.max_ild_db], 1) * self.cue_scale
        cues = cues.repeat_interleave(self.copies, dim=1)  # (B, cue_channels, L)
        return torch.cat([mono.transpose(1, 2), cues], 1).to(x.dtype)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 3 or z.shape[1] != self.encoded_channels:
            raise ValueError(
                f"parametric_binaural decodes (B, {self.encoded_channels}, L) latents, got shape {tuple(z.shape)}"
            )
        mono = z[:, : self.patch_size].transpose(1, 2).flatten(1)  # (B, T)
        itd, ild = self.cues(z)
        spec = self._stft(mono)  # (B, F, K)
        ears = self._steering(itd * self.sample_rate * 1e-3, ild, spec.shape[-1]) * spec[:, None]
        return self._istft(ears, mono.shape[-1]).to(z.dtype)

    def cues(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A latent's cues, each averaged over its copies and clamped to range: ITD (B, L) in ms (+ = left ear
        leads) and band ILDs (B, bands, L) in dB (+ = left ear louder)."""
        c = z[:, self.patch_size :].double().unflatten(1, (self.n_cues, self.copies)).mean(2) / self.cue_scale
        c = c.clamp(-1, 1)
        return c[:, 0] * self.max_itd / self.sample_rate * 1e3, c[:, 1:] * self.max_ild_db

    def channel_weights(self, cue_weight: float) -> torch.Tensor:
        """Per-channel loss weights (C,): 1 on the waveform channels, ``cue_weight`` on the cue channels (the
        tiny recipe's ``pan_loss_weight`` applies to them as to the parametric-stereo pan)."""
        weights = torch.ones(self.encoded_channels)
        weights[self.patch_size :] = float(cue_weight)
        return weights
