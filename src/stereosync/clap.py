"""The LAION-CLAP audio branch (docs/design.md#streams): the project's only seam to ``laion_clap``.

``ClapAudioEncoder`` builds laion_clap's own ``CLAP`` class (HTSAT-tiny audio tower, fusion by default) with a
one-layer stub text tower, so that nothing is downloaded: laion_clap's default ``roberta`` text tower fetches
weights at construction, and ``import laion_clap`` fetches three tokenizers (its ``__init__`` imports the
training data module). We therefore load only laion_clap's ``clap_module`` sub-package, never the top package.

Input handling reproduces ``CLAP_Module.get_audio_embedding_from_data`` for clips up to 10 s: mono, 48 kHz,
int16 quantisation, ``repeatpad`` to 480,000 samples, then either the fusion mel input (four copies of the
log-mel, ``longer = False``) or the raw waveform (non-fusion models).
"""

from __future__ import annotations

import importlib.util
import logging
import pickle
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
import torchaudio

log = logging.getLogger(__name__)

_CLAP_MODULE_ALIAS = "_stereosync_laion_clap_module"
_MAX_SAMPLES = 480_000  # laion_clap's max_len: 10 s at 48 kHz
_STUB_TEXT_CFG = {
    "context_length": 1,
    "vocab_size": 1,
    "width": 8,
    "heads": 1,
    "layers": 1,
    "model_type": "transformer",
}
_AUDIO_PREFIXES = ("audio_branch.", "audio_projection.", "audio_transform.")


def _load_clap_module() -> ModuleType:
    """Import ``laion_clap.clap_module`` without executing ``laion_clap/__init__.py`` (which needs the network).

    Returns:
        The ``clap_module`` package (model classes and configs), cached under a private name.

    Raises:
        ImportError: if ``laion-clap`` is not installed.
    """
    if _CLAP_MODULE_ALIAS in sys.modules:
        return sys.modules[_CLAP_MODULE_ALIAS]
    spec = importlib.util.find_spec("laion_clap")  # finds the package without importing it
    if spec is None or spec.origin is None:
        raise ImportError("ClapAudioEncoder needs the 'laion-clap' package: pip install laion-clap==1.1.4")
    pkg_dir = Path(spec.origin).parent / "clap_module"
    sub = importlib.util.spec_from_file_location(
        _CLAP_MODULE_ALIAS, pkg_dir / "__init__.py", submodule_search_locations=[str(pkg_dir)]
    )
    module = importlib.util.module_from_spec(sub)
    sys.modules[_CLAP_MODULE_ALIAS] = module
    try:
        sub.loader.exec_module(module)
    except BaseException:
        del sys.modules[_CLAP_MODULE_ALIAS]
        raise
    return module


def _read_checkpoint(path: str) -> dict[str, torch.Tensor]:
    """The state dict of an official LAION-CLAP checkpoint (``module.`` prefixes stripped).

    Args:
        path: a ``.pt`` file as published by LAION (``{"state_dict": ..., "epoch": ...}``) or a bare state dict.

    Raises:
        RuntimeError: if the file holds objects other than tensors and plain containers.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise RuntimeError(
            f"{path} cannot be read with torch.load(weights_only=True): it pickles objects other than tensors "
            "and plain containers. We never unpickle arbitrary objects. If you trust the file, convert it once: "
            "torch.save(torch.load(path, weights_only=False)['state_dict'], 'clap_state_dict.pt')."
        ) from err
    state = ckpt["state_dict"] if isinstance(ckpt, dict) and "state_dict" in ckpt else ckpt
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}


class ClapAudioEncoder(torch.nn.Module):
    """LAION-CLAP audio embedding (512-d, L2-normalised), frozen and always in eval mode.

    Args:
        checkpoint: path to an official LAION-CLAP checkpoint (e.g. ``630k-audioset-fusion-best.pt`` for the
            fusion model, ``630k-audioset-best.pt`` for the non-fusion one). ``None`` keeps random weights and
            logs a warning (tests only).
        enable_fusion: build the fusion variant (``aff_2d``) of the audio tower; must match the checkpoint.
        amodel: laion_clap audio model config name (``HTSAT-tiny``).

    Attributes:
        sample_rate: 48,000 Hz, the rate the tower expects (input is resampled to it).
        dim: 512, the embedding size.
        name: embedding name used in metric reports.
        channel_handling: ``"mono"`` (channels are averaged before embedding).
    """

    sample_rate = 48000
    dim = 512
    channel_handling = "mono"

    def __init__(self, checkpoint: str | None = None, enable_fusion: bool = True, amodel: str = "HTSAT-tiny"):
        super().__init__()
        clap_module = _load_clap_module()
        configs = clap_module.factory._MODEL_CONFIGS
        if amodel not in configs:
            raise ValueError(f"unknown laion_clap audio model {amodel!r}; known: {sorted(configs)}")
        cfg = configs[amodel]
        self.audio_cfg = dict(cfg["audio_cfg"])
        if self.audio_cfg["sample_rate"] != self.sample_rate:
            raise ValueError(f"{amodel} expects {self.audio_cfg['sample_rate']} Hz, this wrapper assumes 48 kHz")
        self.enable_fusion = enable_fusion
        self.name = f"clap-{amodel.lower()}" + ("-fusion" if enable_fusion else "")
        self.model = clap_module.CLAP(
            embed_dim=cfg["embed_dim"],
            audio_cfg=self.audio_cfg,
            text_cfg=_STUB_TEXT_CFG,
            enable_fusion=enable_fusion,
            fusion_type="aff_2d" if enable_fusion else "None",
        )
        # laion_clap's get_mel: torchaudio mel power spectrogram then dB, computed outside the model for fusion.
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=self.sample_rate,
            n_fft=self.audio_cfg["window_size"],
            win_length=self.audio_cfg["window_size"],
            hop_length=self.audio_cfg["hop_size"],
            center=True,
            pad_mode="reflect",
            power=2.0,
            norm=None,
            n_mels=self.audio_cfg["mel_bins"],
            f_min=self.audio_cfg["fmin"],
            f_max=self.audio_cfg["fmax"],
        )
        self.to_db = torchaudio.transforms.AmplitudeToDB(top_db=None)
        if checkpoint is None:
            log.warning("ClapAudioEncoder: no checkpoint given, the audio branch keeps RANDOM weights")
        else:
            self.load_checkpoint(checkpoint)
        self.requires_grad_(False)
        self.eval()

    def load_checkpoint(self, checkpoint: str) -> None:
        """Load the audio-branch weights (``audio_branch``, ``audio_projection``, ``audio_transform``).

        Args:
            checkpoint: path to an official LAION-CLAP ``.pt`` file; text-branch weights in it are ignored.

        Raises:
            RuntimeError: if the file's audio weights do not match this architecture (e.g. a non-fusion
                checkpoint such as ``630k-audioset-best.pt`` with ``enable_fusion=True``).
        """
        state = {k: v for k, v in _read_checkpoint(checkpoint).items() if k.startswith(_AUDIO_PREFIXES)}
        expected = {k for k in self.model.state_dict() if k.startswith(_AUDIO_PREFIXES)}
        missing, unexpected = sorted(expected - state.keys()), sorted(state.keys() - expected)
        if missing or unexpected:
            raise RuntimeError(
                f"{checkpoint} does not fit {self.name} (enable_fusion={self.enable_fusion}): "
                f"{len(missing)} missing audio keys (e.g. {missing[:3]}), {len(unexpected)} unexpected "
                f"(e.g. {unexpected[:3]}). Fusion checkpoints are the '*-fusion-best.pt' files."
            )
        self.model.load_state_dict(state, strict=False)
        log.info("ClapAudioEncoder: loaded %d audio tensors from %s", len(state), checkpoint)

    def train(self, mode: bool = True) -> ClapAudioEncoder:
        """Stay in eval mode: the encoder is frozen (dropout, batch norm and fusion's random choice off)."""
        return super().train(False)

    def _model_inputs(self, wave: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """laion_clap's ``get_audio_features`` for clips ≤ 10 s, batched. wave: (B, T) at 48 kHz."""
        n = wave.shape[-1]
        wave = wave.repeat(1, _MAX_SAMPLES // n)  # repeatpad: whole repeats, then zeros
        wave = torch.nn.functional.pad(wave, (0, _MAX_SAMPLES - wave.shape[-1]))
        longer = torch.tensor([False], device=wave.device)
        if not self.enable_fusion:
            return [{"waveform": w, "longer": longer} for w in wave]
        mel = self.to_db(self.mel(wave)).transpose(1, 2)  # (B, frames, mel_bins)
        fusion = mel.unsqueeze(1).expand(-1, 4, -1, -1)  # (B, 4, frames, mel_bins): global view repeated
        return [{"mel_fusion": f, "longer": longer, "waveform": w} for f, w in zip(fusion, wave)]

    @torch.no_grad()
    def forward(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Embed a batch of clips.

        Args:
            audio: (B, C, T) waveform in [-1, 1]; channels are averaged to mono. At most 10 s after resampling.
            sample_rate: rate of ``audio`` in Hz; resampled to 48 kHz.

        Returns:
            (B, 512) L2-normalised embeddings, float32, on the encoder's device.
        """
        if audio.dim() != 3:
            raise ValueError(f"audio must be (B, C, T), got shape {tuple(audio.shape)}")
        device = next(self.parameters()).device
        wave = audio.to(device=device, dtype=torch.float32).mean(dim=1)  # (B, T)
        if sample_rate != self.sample_rate:
            wave = torchaudio.functional.resample(wave, sample_rate, self.sample_rate)
        if not 0 < wave.shape[-1] <= _MAX_SAMPLES:
            raise ValueError(f"clip length {wave.shape[-1] / self.sample_rate:.2f} s: must be in (0, 10] s")
        # get_audio_embedding_from_data's int16 round trip (truncation toward zero, like numpy's astype).
        wave = (wave.clamp(-1.0, 1.0) * 32767.0).to(torch.int16).to(torch.float32) / 32767.0
        return self.model.get_audio_embedding(self._model_inputs(wave))

    def embed_numpy(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Embed one clip given as a numpy array.

        Args:
            audio: (C, T) or (T,) waveform in [-1, 1].
            sample_rate: rate of ``audio`` in Hz.

        Returns:
            (512,) float32 L2-normalised embedding.
        """
        x = torch.as_tensor(np.asarray(audio, dtype=np.float32))
        x = x.reshape(1, 1, -1) if x.dim() == 1 else x.unsqueeze(0)
        return self(x, sample_rate)[0].cpu().numpy().astype(np.float32)


class ClipEmbedder:
    """One (C, T) numpy clip at any rate → its (512,) embedding: the ``clap_encoder`` that the synthetic scene
    writer (:func:`stereosync.data.synthetic.write_synthetic_dataset`) takes; ``name`` is the encoder's."""

    def __init__(self, encoder: ClapAudioEncoder):
        self.encoder, self.name = encoder, encoder.name

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        return self.encoder.embed_numpy(audio, sample_rate)
