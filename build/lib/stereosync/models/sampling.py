"""Sampling: stable-audio-tools' k-diffusion samplers with the ControlNet control passed through.

Settings and defaults: docs/design.md#training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stereosync.models.backbone import sample_k
from stereosync.models.stereosync import Conditioning, StereoSyncModel


@dataclass
class Sampler:
    """Sampler settings (defaults: the predecessor's, docs/design.md#training).

    Attributes:
        sampler_type: a stable-audio-tools ``sample_k`` type (``dpmpp-3m-sde``, ``dpmpp-2m-sde``, ``k-heun``, …).
        steps: denoising steps.
        sigma_min: smallest noise level (k-diffusion sigma).
        sigma_max: largest noise level (k-diffusion sigma; 500 ≈ t 0.9987 on SAO's schedule).
        rho: polyexponential schedule parameter.
        cfg_scale: classifier-free guidance scale on the cross-attention tokens (1 = off).
        guidance: what guidance contrasts with: ``"all"`` = the null condition (every token zero, as the training
            dropout); ``"spatial"`` = the tokens without the spatial streams' (depth and boxes zero, CLAP and
            seconds kept), which guides along the video's spatial streams only.

    Progress: the sampler draws no progress bar of its own (under a Trainer it would print one bar per batch
    inside Lightning's). A caller that wants per-step progress (the demo) sets ``on_step`` on the instance: a
    callable ``(step, steps)`` called after each denoising step. It is not a setting, so configs never carry it.
    """

    on_step = None  # not a dataclass field (no annotation): set per instance by a caller that shows progress

    sampler_type: str = "dpmpp-3m-sde"
    steps: int = 150
    sigma_min: float = 0.3
    sigma_max: float = 500.0
    rho: float = 1.0
    cfg_scale: float = 2.0
    guidance: str = "all"

    def __post_init__(self) -> None:
        if self.guidance not in ("all", "spatial"):
            raise ValueError(f"model.sampler.guidance must be 'all' or 'spatial', got {self.guidance!r}")

    @torch.no_grad()
    def __call__(
        self, model: StereoSyncModel, cond: Conditioning, latent_frames: int, seeds: Sequence[int]
    ) -> torch.Tensor:
        """Generate latents (B, C, L).

        Every random draw of a clip comes from its own seed — the initial noise and, for the SDE samplers, the
        Brownian noise (one tree per clip) — so a clip does not depend on what it is batched with, nor on the
        rank it runs on. Same seeds → identical output on CPU.

        Args:
            model: the denoiser.
            cond: conditioning of B samples.
            latent_frames: L.
            seeds: B integer seeds.
        """
        backbone = model.backbone
        device = cond.global_cond.device
        noise = torch.stack(
            [
                torch.randn(backbone.latent_channels, latent_frames, generator=torch.Generator().manual_seed(int(s)))
                for s in seeds
            ]
        ).to(device)

        def denoise(x: torch.Tensor, t: torch.Tensor, **_: object) -> torch.Tensor:
            return model(x, t, cond, cfg_scale=self.cfg_scale, guidance=self.guidance)

        if self.sampler_type in _SDE_SAMPLERS:
            return self._sample_sde(denoise, noise, [int(s) for s in seeds])
        if self.sampler_type in _SIGMA_SAMPLERS:
            return self._sample_sigmas(denoise, noise)
        return sample_k(
            denoise,
            noise,
            steps=self.steps,
            sampler_type=self.sampler_type,
            sigma_min=self.sigma_min,
            sigma_max=self.sigma_max,
            rho=self.rho,
            device=device,
        )

    def _sample_sde(self, denoise, noise: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        """The k-diffusion SDE samplers as stable-audio-tools' ``sample_k`` runs them (v-denoiser, polyexponential
        schedule), but with one Brownian tree per clip: ``sample_k`` offers no way to pass a noise sampler."""
        import k_diffusion as K

        sigmas = K.sampling.get_sigmas_polyexponential(
            self.steps, self.sigma_min, self.sigma_max, self.rho, device=noise.device
        )
        x = noise * sigmas[0]
        noise_sampler = K.sampling.BrownianTreeNoiseSampler(x, self.sigma_min, self.sigma_max, seed=seeds)
        sampler = getattr(K.sampling, _SDE_SAMPLERS[self.sampler_type])
        return sampler(
            K.external.VDenoiser(denoise),
            x,
            sigmas,
            noise_sampler=noise_sampler,
            disable=True,
            callback=self._callback(),
        )

    def _sample_sigmas(self, denoise, noise: torch.Tensor) -> torch.Tensor:
        """The deterministic k-diffusion samplers on a sigma schedule, exactly as ``sample_k`` runs them, without
        its progress bar (``sample_k`` always draws one)."""
        import k_diffusion as K

        sigmas = K.sampling.get_sigmas_polyexponential(
            self.steps, self.sigma_min, self.sigma_max, self.rho, device=noise.device
        )
        sampler = getattr(K.sampling, _SIGMA_SAMPLERS[self.sampler_type])
        return sampler(
            K.external.VDenoiser(denoise), noise * sigmas[0], sigmas, disable=True, callback=self._callback()
        )

    def _callback(self):
        """k-diffusion's per-step callback → ``on_step(step, steps)``; None when nobody listens."""
        on_step = self.on_step
        if on_step is None:
            return None
        return lambda info: on_step(int(info["i"]) + 1, self.steps)


_SDE_SAMPLERS = {"dpmpp-2m-sde": "sample_dpmpp_2m_sde", "dpmpp-3m-sde": "sample_dpmpp_3m_sde"}
_SIGMA_SAMPLERS = {
    "k-heun": "sample_heun",
    "k-lms": "sample_lms",
    "k-dpmpp-2s-ancestral": "sample_dpmpp_2s_ancestral",
    "k-dpm-2": "sample_dpm_2",
    "dpmpp-2m": "sample_dpmpp_2m",
}
