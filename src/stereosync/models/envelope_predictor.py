"""The envelope predictor: visual timing features (+ boxes) → the RMS envelope the ControlNet reads.

A video without a soundtrack has no envelope to give the ControlNet. This network predicts it from what the
picture shows: per box frame (30 fps) the motion rows of :mod:`stereosync.motion` and the tracked boxes
(centre, size, presence). Layout, after Video-Foley's Video2RMS: a signed-log compression and a
non-affine batch norm of the inputs, three 1-D convolutions (kernel 5) over time, a two-layer bidirectional
LSTM, and a head that emits ``upsample`` envelope values per box frame (60 Hz by default). The frame-rate
envelope is then brought to audio rate by linear interpolation between frame centres.

Two output designs (``output``):

- ``log``: regression of ``log(envelope + LOG_FLOOR)`` with an L1 loss;
- ``mulaw``: the envelope μ-law companded into ``bins`` classes, cross-entropy against Gaussian-smoothed
  targets (``smoothing`` bins wide); the prediction is the expected companded value, expanded back.

Optionally (``clap_dim`` > 0) the predictor also reads the CLAP embedding of audio with the wanted timbre — the one
the generator receives: the clip's own in ``test``, ``--data.clap_reference`` in ``predict``. The picture does not
show what a footstep is made of, and the material sets a peak-normalised chunk's envelope level and the decay
of each step; the L2-normalised embedding scales and shifts (FiLM) the per-frame features before the LSTM.

The envelope is that of the peak-normalised chunk, mono (the stereo image comes from the video), in linear
amplitude — what :func:`stereosync.envelope.rms_envelope` gives for the chunk the model trains on.
Weights and architecture travel together in one safetensors file (:meth:`save_pretrained`,
:meth:`from_pretrained`).
"""

from __future__ import annotations

import json
import math
import os
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from stereosync.motion import num_features

LOG_FLOOR = 1e-3
SAMPLE_RATE_KEY = "stereosync_envelope_sample_rate"
OutputDesign = Literal["log", "mulaw"]


def box_features(boxes: torch.Tensor, box_mask: torch.Tensor) -> torch.Tensor:
    """(B, F, K, 4) boxes + (B, F, K) mask → (B, F, 5K): centre x, centre y, width, height, presence."""
    m = box_mask.float().unsqueeze(-1)
    cx, cy = 0.5 * (boxes[..., 0] + boxes[..., 2]), 0.5 * (boxes[..., 1] + boxes[..., 3])
    w, h = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    feats = torch.stack([cx, cy, w, h], -1) * m
    return torch.cat([feats, m], -1).flatten(2)


def mulaw(x: torch.Tensor, mu: float) -> torch.Tensor:
    """Companded value in [0, 1] of an envelope in [0, 1]."""
    return torch.log1p(mu * x.clamp(0, 1)) / math.log1p(mu)


def inverse_mulaw(y: torch.Tensor, mu: float) -> torch.Tensor:
    return (torch.pow(1 + mu, y.clamp(0, 1)) - 1) / mu


class EnvelopePredictor(nn.Module):
    """Motion rows + boxes → envelope at ``upsample`` × the box rate.

    Args:
        num_objects: K, tracked objects per frame (as the shards).
        hidden: width of the convolutions and the LSTM (both directions together).
        output: ``log`` or ``mulaw`` (see the module docstring).
        bins: μ-law classes (``mulaw``).
        mu: μ of the companding (``mulaw``).
        smoothing: standard deviation in bins of the Gaussian label smoothing (``mulaw``).
        upsample: envelope values per box frame.
        motion_scale: inputs are compressed as sign(x)·log1p(|x| / motion_scale).
        onset_head: also a linear head giving per envelope step the logit of "a step starts here", trained with
            BCE on the true event times (:meth:`onset_logits`); it shapes the shared features during training
            and is not used by :meth:`predict`.
        gain: factor on the decoded envelope (:meth:`decode`), a level calibration chosen on validation scenes
            (``python -m stereosync.envelope_training export --gain``); 1 leaves the network's output as is.
        clap_dim: width of the CLAP embedding the predictor reads (512 for LAION-CLAP); 0: none, the picture
            alone (files without it predict exactly as before).
    """

    def __init__(
        self,
        num_objects: int = 2,
        hidden: int = 64,
        output: OutputDesign = "mulaw",
        bins: int = 64,
        mu: float = 255.0,
        smoothing: float = 1.0,
        upsample: int = 2,
        motion_scale: float = 1e-3,
        onset_head: bool = False,
        gain: float = 1.0,
        clap_dim: int = 0,
    ):
        super().__init__()
        if output not in ("log", "mulaw"):
            raise ValueError(f"EnvelopePredictor output must be 'log' or 'mulaw', got {output!r}")
        if not gain > 0:
            raise ValueError(f"EnvelopePredictor gain must be > 0, got {gain}")
        if hidden % 2:
            raise ValueError(f"EnvelopePredictor hidden must be even (two LSTM directions), got {hidden}")
        self.config = dict(
            num_objects=num_objects,
            hidden=hidden,
            output=output,
            bins=bins,
            mu=mu,
            smoothing=smoothing,
            upsample=upsample,
            motion_scale=motion_scale,
        )
        if onset_head:  # only then in the config: files without the head keep their metadata
            self.config["onset_head"] = True
        if gain != 1.0:  # likewise: uncalibrated files keep their metadata
            self.config["gain"] = float(gain)
        if clap_dim < 0:
            raise ValueError(f"EnvelopePredictor clap_dim must be >= 0, got {clap_dim}")
        if clap_dim:  # likewise: files that read no CLAP keep their metadata
            self.config["clap_dim"] = int(clap_dim)
        self.clap_dim = int(clap_dim)
        self.gain = float(gain)
        self.num_objects, self.output, self.bins, self.mu = num_objects, output, bins, mu
        self.smoothing, self.upsample, self.motion_scale = smoothing, upsample, motion_scale
        self.motion_dim = num_features(num_objects)
        in_dim = self.motion_dim + 5 * num_objects
        self.norm = nn.BatchNorm1d(in_dim, affine=False)
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv1d(in_dim if i == 0 else hidden, hidden, 5, padding=2), nn.GELU()]
        self.conv = nn.Sequential(*layers)
        self.lstm = nn.LSTM(hidden, hidden // 2, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(hidden, upsample * (bins if output == "mulaw" else 1))
        self.onset = nn.Linear(hidden, upsample) if onset_head else None  # built last: the other layers' init
        # draws the same random numbers with or without it
        self.film = nn.Linear(clap_dim, 2 * hidden) if clap_dim else None  # CLAP → per-channel scale and shift
        if self.film is not None:  # zero: a fresh conditioned predictor starts as the picture-only one
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    # --- network ------------------------------------------------------------------------------------------
    def forward(
        self,
        motion: torch.Tensor,
        boxes: torch.Tensor,
        box_mask: torch.Tensor,
        clap: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Raw outputs (B, F·upsample, bins) for ``mulaw`` or (B, F·upsample) log-envelope for ``log``.

        Args:
            motion: (B, F, M) motion rows.
            boxes: (B, F, K, 4) normalised boxes.
            box_mask: (B, F, K) presence.
            clap: (B, clap_dim) CLAP embedding of the timbre reference; required when ``clap_dim`` > 0, ignored
                otherwise.
        """
        return self.envelope_head(self.encode(motion, boxes, box_mask, clap))

    def encode(
        self,
        motion: torch.Tensor,
        boxes: torch.Tensor,
        box_mask: torch.Tensor,
        clap: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Shared features (B, F, hidden) of the envelope and onset heads (arguments as :meth:`forward`)."""
        if motion.shape[-1] != self.motion_dim or boxes.shape[2] != self.num_objects:
            raise ValueError(
                f"EnvelopePredictor built for {self.num_objects} objects ({self.motion_dim} motion columns) got "
                f"motion {tuple(motion.shape)} and boxes {tuple(boxes.shape)}"
            )
        m = motion.float()
        x = torch.cat([torch.sign(m) * torch.log1p(m.abs() / self.motion_scale), box_features(boxes, box_mask)], -1)
        h = self.conv(self.norm(x.transpose(1, 2)))  # (B, H, F)
        if self.film is not None:
            h = self.condition(h, clap)
        h, _ = self.lstm(h.transpose(1, 2))  # (B, F, H)
        return h

    def condition(self, h: torch.Tensor, clap: torch.Tensor | None) -> torch.Tensor:
        """FiLM of the convolution features (B, H, F) by the L2-normalised CLAP embedding (B, clap_dim)."""
        if clap is None:
            raise ValueError(
                f"this EnvelopePredictor reads a {self.clap_dim}-d CLAP embedding of the timbre reference "
                f"(clap_dim={self.clap_dim}), but none was given"
            )
        if clap.dim() != 2 or clap.shape != (h.shape[0], self.clap_dim):
            raise ValueError(
                f"EnvelopePredictor expects a CLAP embedding of shape ({h.shape[0]}, {self.clap_dim}), "
                f"got {tuple(clap.shape)}"
            )
        scale, shift = self.film(F.normalize(clap.float(), dim=-1)).unsqueeze(-1).chunk(2, dim=1)
        return h * (1 + scale) + shift

    def envelope_head(self, h: torch.Tensor) -> torch.Tensor:
        """Shared features (B, F, hidden) → the raw envelope outputs of :meth:`forward`."""
        out = self.head(h)  # (B, F, upsample · C)
        b, f = out.shape[:2]
        return out.reshape(b, f * self.upsample, -1) if self.output == "mulaw" else out.reshape(b, f * self.upsample)

    def onset_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Shared features (B, F, hidden) → onset logits (B, F·upsample), one per envelope step."""
        if self.onset is None:
            raise ValueError("this EnvelopePredictor has no onset head (onset_head=False)")
        return self.onset(h).flatten(1)

    def onset_target(
        self, events: torch.Tensor, events_mask: torch.Tensor, num_frames: int, fps: float
    ) -> torch.Tensor:
        """True onsets (B, E, 2) [s, object] with their mask (B, E) → (B, F·upsample) 0/1, 1 on each onset's step."""
        steps = num_frames * self.upsample
        idx = (events[..., 0].float() * fps * self.upsample).floor().long().clamp(0, steps - 1)
        out = torch.zeros(events.shape[0], steps, device=events.device)
        return out.scatter_add(1, idx, events_mask.float()).clamp(max=1)  # padding adds 0

    def decode(self, raw: torch.Tensor) -> torch.Tensor:
        """Network outputs → envelope (B, F·upsample), linear amplitude, ≥ 0, times ``gain``."""
        if self.output == "mulaw":
            centres = (torch.arange(self.bins, device=raw.device, dtype=torch.float32) + 0.5) / self.bins
            env = inverse_mulaw((raw.float().softmax(-1) * centres).sum(-1), self.mu)
        else:
            env = (raw.float().exp() - LOG_FLOOR).clamp(min=0)
        return env * self.gain if self.gain != 1.0 else env

    def loss(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Training loss against the target envelope (B, F·upsample) at the predictor's rate."""
        if self.output == "mulaw":
            y = mulaw(target.float(), self.mu) * self.bins  # continuous bin coordinate
            centres = torch.arange(self.bins, device=raw.device, dtype=torch.float32) + 0.5
            soft = torch.exp(-0.5 * ((centres - y.unsqueeze(-1)) / max(self.smoothing, 1e-3)) ** 2)
            soft = soft / soft.sum(-1, keepdim=True)
            return -(soft * raw.float().log_softmax(-1)).sum(-1).mean()
        return F.l1_loss(raw.float(), torch.log(target.float().clamp(min=0) + LOG_FLOOR))

    # --- rates --------------------------------------------------------------------------------------------
    def target(self, envelope: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Audio-rate envelope (B, C, S) → mono mean over each of the F·upsample predictor steps (B, F·upsample)."""
        mono = envelope.float().mean(1, keepdim=True)  # (B, 1, S)
        return F.adaptive_avg_pool1d(mono, num_frames * self.upsample).squeeze(1)

    @staticmethod
    def to_audio_rate(envelope: torch.Tensor, num_samples: int) -> torch.Tensor:
        """(B, N) envelope at N evenly spaced steps → (B, 2, S), linear interpolation between step centres."""
        up = F.interpolate(envelope.float().unsqueeze(1), size=num_samples, mode="linear", align_corners=False)
        return up.clamp(min=0).expand(-1, 2, -1).contiguous()

    @torch.no_grad()
    def predict(
        self,
        motion: torch.Tensor,
        boxes: torch.Tensor,
        box_mask: torch.Tensor,
        num_samples: int,
        clap: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The envelope (B, 2, S) at audio rate for chunks of S samples (eval mode, no gradients); ``clap`` as
        :meth:`forward`."""
        was = self.training
        self.eval()
        try:
            return self.to_audio_rate(self.decode(self(motion, boxes, box_mask, clap)), num_samples)
        finally:
            self.train(was)

    # --- files --------------------------------------------------------------------------------------------
    def save_pretrained(self, path: str | os.PathLike, sample_rate: int | None = None) -> None:
        """One safetensors file: the weights, with the architecture in its metadata and, when given, the sample
        rate of the audio whose envelopes it learned (:func:`file_info`)."""
        from safetensors.torch import save_file

        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        meta = {"stereosync_envelope_predictor": json.dumps(self.config)}
        if sample_rate is not None:
            meta[SAMPLE_RATE_KEY] = str(int(sample_rate))
        save_file(state, os.fspath(path), metadata=meta)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> EnvelopePredictor:
        """Load a file written by :meth:`save_pretrained` (``pkg://`` paths resolve to shipped files)."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        from stereosync.resources import resolve_path

        file = resolve_path(path)
        with safe_open(os.fspath(file), "pt") as fh:
            meta = fh.metadata() or {}
        if "stereosync_envelope_predictor" not in meta:
            raise ValueError(f"{path}: not an envelope-predictor file (no 'stereosync_envelope_predictor' metadata)")
        model = cls(**json.loads(meta["stereosync_envelope_predictor"]))
        model.load_state_dict(load_file(os.fspath(file)))
        return model.eval()


def file_info(path: str | os.PathLike) -> tuple[dict, int | None]:
    """A predictor file's architecture and the sample rate (Hz) of the audio it was trained on (None when the
    file does not record it), from its header alone (``pkg://`` paths resolve to shipped files).

    Raises:
        ValueError: not an envelope-predictor file.
    """
    from safetensors import safe_open

    from stereosync.resources import resolve_path

    with safe_open(os.fspath(resolve_path(path)), "pt") as fh:
        meta = fh.metadata() or {}
    if "stereosync_envelope_predictor" not in meta:
        raise ValueError(f"{path}: not an envelope-predictor file (no 'stereosync_envelope_predictor' metadata)")
    rate = meta.get(SAMPLE_RATE_KEY)
    return json.loads(meta["stereosync_envelope_predictor"]), int(rate) if rate is not None else None
