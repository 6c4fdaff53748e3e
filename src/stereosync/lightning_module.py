"""The StereoSync LightningModule: thin glue between the data, the model, the objective and the optimiser."""

from __future__ import annotations

import logging
import zlib
from typing import Any

import lightning.pytorch as pl
import torch

from stereosync.models.backbone import Backbone
from stereosync.models.encoders import BoxEncoder, ClapEncoder, DepthEncoder
from stereosync.models.envelope_control import EnvelopeControl
from stereosync.models.objective import TimestepDistribution, noise_and_target, sample_timesteps, v_loss
from stereosync.models.sampling import Sampler
from stereosync.models.stereosync import StereoSyncModel

log = logging.getLogger(__name__)

BACKBONE_PREFIX = "model.backbone."


class StereoSync(pl.LightningModule):
    """Video-to-stereo-audio: frozen SAO + trainable ControlNet and conditioning projections.

    Args:
        backbone: the frozen backbone (its weights never enter a checkpoint; they reload from its own file).
        depth: depth stream; ``null`` switches it off (ablation).
        boxes: box stream; ``null`` switches it off.
        clap: CLAP stream; ``null`` switches it off.
        envelope: envelope stream (ControlNet input); ``null`` switches the ControlNet off.
        controlnet_depth_factor: fraction of DiT blocks copied into the ControlNet (0.2 → 4 of 24).
        controlnet_checkpointing: activation checkpointing in the ControlNet blocks.
        cfg_dropout: probability of replacing a sample's tokens by the null condition during training.
        timesteps: training timestep distribution (``logit_normal`` = SAO; ``uniform``).
        val_timesteps: number of fixed timesteps the validation loss averages over (deterministic noise).
        lr: AdamW learning rate.
        betas: AdamW betas.
        eps: AdamW epsilon.
        weight_decay: AdamW weight decay.
        sampler: sampling settings for test/predict.
        clap_checkpoint: LAION-CLAP checkpoint for the FAD embedding in ``test`` (and reference audio at
            ``predict``); ``None`` uses random CLAP weights, and every FAD name then says ``random``.
        fad: compute FAD in ``test`` (needs the CLAP audio branch; a few seconds per clip on a CPU).
        seed: base seed of generation; each clip's seed is derived from it and the clip's key.
    """

    def __init__(
        self,
        backbone: Backbone,
        depth: DepthEncoder | None = None,
        boxes: BoxEncoder | None = None,
        clap: ClapEncoder | None = None,
        envelope: EnvelopeControl | None = None,
        controlnet_depth_factor: float = 0.2,
        controlnet_checkpointing: bool = True,
        cfg_dropout: float = 0.1,
        timesteps: TimestepDistribution = "logit_normal",
        val_timesteps: int = 8,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.95, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 1e-3,
        sampler: Sampler | None = None,
        clap_checkpoint: str | None = None,
        fad: bool = True,
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["backbone", "depth", "boxes", "clap", "envelope"])
        self.model = StereoSyncModel(
            backbone, depth, boxes, clap, envelope, controlnet_depth_factor, controlnet_checkpointing
        )
        self.sampler = Sampler(**sampler) if isinstance(sampler, dict) else (sampler or Sampler())

    @property
    def backbone(self) -> Backbone:
        return self.model.backbone

    # --- training ----------------------------------------------------------------------------------------
    def latents(self, batch: dict) -> torch.Tensor:
        """Clean scaled latents (B, C, L): the batch's precomputed ``latent`` or the encoded ``audio``."""
        if "latent" in batch:
            return batch["latent"].float() * self.backbone.latent_scale
        return self.backbone.encode(batch["audio"].float())

    def loss(
        self, batch: dict, t: torch.Tensor, noise_generator: torch.Generator | None = None, cfg_dropout: float = 0.0
    ) -> torch.Tensor:
        """v-objective loss of a batch at times t (B,)."""
        x0 = self.latents(batch)
        noise = torch.randn(x0.shape, generator=noise_generator, device="cpu" if noise_generator else x0.device)
        x_t, target = noise_and_target(x0, t, noise.to(x0))
        cond = self.model.condition(batch).drop_tokens(cfg_dropout)
        return v_loss(self.model(x_t, t, cond), target)

    def on_train_epoch_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if hasattr(datamodule, "set_epoch"):
            datamodule.set_epoch(self.current_epoch)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        b = batch["clap"].shape[0]
        t = sample_timesteps(b, self.hparams.timesteps, device=self.device)
        loss = self.loss(batch, t, cfg_dropout=self.hparams.cfg_dropout)
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """Loss averaged over fixed timesteps with noise seeded by the batch index: comparable across epochs."""
        b, n = batch["clap"].shape[0], self.hparams.val_timesteps
        gen = torch.Generator().manual_seed(batch_idx)
        losses = []
        for i in range(n):
            t = torch.full((b,), (i + 0.5) / n, device=self.device)
            losses.append(self.loss(batch, t, noise_generator=gen))
        loss = torch.stack(losses).mean()
        self.log("val/loss", loss, prog_bar=True, batch_size=b, sync_dist=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = self.model.trainable_parameters()
        log.info(
            "StereoSync: optimising %.2f M trainable parameters (backbone frozen: %.2f M)",
            sum(p.numel() for p in params) / 1e6,
            sum(p.numel() for p in self.backbone.parameters()) / 1e6,
        )
        return torch.optim.AdamW(
            params,
            lr=self.hparams.lr,
            betas=tuple(self.hparams.betas),
            eps=self.hparams.eps,
            weight_decay=self.hparams.weight_decay,
        )

    # --- evaluation --------------------------------------------------------------------------------------
    def clap_encoder(self) -> torch.nn.Module:
        """The (cached) frozen LAION-CLAP audio encoder for FAD and reference audio."""
        if getattr(self, "_clap", None) is None:
            from stereosync.clap import ClapAudioEncoder

            clap = ClapAudioEncoder(self.hparams.clap_checkpoint).to(self.device)
            if self.hparams.clap_checkpoint is None:
                clap.name += "-random"
            object.__setattr__(self, "_clap", clap)  # not a submodule: never in a checkpoint
        return self._clap

    def on_test_start(self) -> None:
        from stereosync.metrics import build_metrics

        embedder = self.clap_encoder() if self.hparams.fad else None
        metrics = build_metrics(self.backbone.sample_rate, fad_embedder=embedder, prefix="test/").to(self.device)
        object.__setattr__(self, "test_metrics", metrics)  # kept out of state_dict and of strict loading

    def clip_seeds(self, keys: list[str]) -> list[int]:
        """Per-clip seeds: a function of the base seed and the clip's key only (batching does not matter)."""
        return [(self.hparams.seed * 1_000_003 + zlib.crc32(str(k).encode())) % 2**31 for k in keys]

    def test_step(self, batch: dict, batch_idx: int) -> dict[str, Any]:
        """Generate every clip, update the metric collection; per-clip values go to the output writer."""
        from stereosync.metrics.functional import e_l1_per_clip, spatial_av_align_counts

        generated = self.generate(batch, self.clip_seeds(batch["__key__"]))
        target = batch["audio"].float()
        self.test_metrics.update(preds=generated, target=target, boxes=batch["boxes"], box_mask=batch["box_mask"])
        sr = self.backbone.sample_rate
        e_l1 = e_l1_per_clip(generated, target, sr)
        clips = []
        for i, key in enumerate(batch["__key__"]):
            tp, fn = spatial_av_align_counts(generated[i], sr, batch["boxes"][i], batch["box_mask"][i])
            tp_ref, fn_ref = spatial_av_align_counts(target[i], sr, batch["boxes"][i], batch["box_mask"][i])
            clips.append(
                {
                    "key": key,
                    "e_l1": float(e_l1[i]),
                    "spatial_tp": int(tp),
                    "spatial_fn": int(fn),
                    "spatial_tp_reference": int(tp_ref),
                    "spatial_fn_reference": int(fn_ref),
                }
            )
        return {"generated": generated, "target": target, "keys": batch["__key__"], "clips": clips, "sample_rate": sr}

    def on_test_epoch_end(self) -> None:
        values = self.test_metrics.compute()
        flat: dict[str, torch.Tensor] = {}
        for name, value in values.items():
            if isinstance(value, dict):
                flat.update({f"{name}/{k}": v for k, v in value.items()})
            else:
                flat[name] = value
        self.log_dict({k: v.float() for k, v in flat.items()}, sync_dist=False)
        self.test_metrics.reset()

    # --- generation --------------------------------------------------------------------------------------
    def generate(self, batch: dict, seeds: list[int] | None = None) -> torch.Tensor:
        """Stereo audio (B, 2, T) for a batch, T = the batch's chunk length at the backbone's sample rate."""
        cond = self.model.condition(batch)
        num_samples = int(round(float(batch["seconds_total"][0]) * self.backbone.sample_rate))
        b = cond.global_cond.shape[0]
        seeds = seeds if seeds is not None else list(range(b))
        latent = self.sampler(self.model, cond, self.backbone.latent_frames(num_samples), seeds)
        return self.backbone.decode(latent, num_samples).clamp(-1, 1)

    # --- checkpoints: trainable weights only -------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith(BACKBONE_PREFIX)]:
            del state[key]

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Load trainable weights; the backbone keeps the weights it was built with (its own file)."""
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        missing = [k for k in result.missing_keys if not k.startswith(BACKBONE_PREFIX)]
        if strict and (missing or result.unexpected_keys):
            raise RuntimeError(
                f"checkpoint does not match the model: missing trainable keys {missing[:8]}, "
                f"unexpected keys {result.unexpected_keys[:8]} — was it trained with other "
                f"streams switched on or off?"
            )
        return result
