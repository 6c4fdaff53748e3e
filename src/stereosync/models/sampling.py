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
    """

    sampler_type: str = "dpmpp-3m-sde"
    steps: int = 150
    sigma_min: float = 0.3
    sigma_max: float = 500.0
    rho: float = 1.0
    cfg_scale: float = 2.0

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
            return model(x, t, cond, cfg_scale=self.cfg_scale)

        if self.sampler_type in _SDE_SAMPLERS:
            return self._sample_sde(denoise, noise, [int(s) for s in seeds])
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
        return sampler(K.external.VDenoiser(denoise), x, sigmas, noise_sampler=noise_sampler, disable=False)


_SDE_SAMPLERS = {"dpmpp-2m-sde": "sample_dpmpp_2m_sde", "dpmpp-3m-sde": "sample_dpmpp_3m_sde"}
