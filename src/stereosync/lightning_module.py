"""The StereoSync LightningModule: thin glue between the data, the model, the objective and the optimiser."""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from typing import Any, Literal

import lightning.pytorch as pl
import torch

from stereosync.models.backbone import Backbone
from stereosync.models.encoders import BoxEncoder, ClapEncoder, DepthEncoder
from stereosync.models.envelope_control import EnvelopeControl
from stereosync.models.objective import (
    TimestepDistribution,
    loss_weights,
    noise_and_target,
    sample_timesteps,
    shift_timesteps,
    v_loss,
)
from stereosync.models.sampling import Sampler
from stereosync.models.stereosync import StereoSyncModel
from stereosync.rng import rng_state, set_rng_state

log = logging.getLogger(__name__)

BACKBONE_PREFIX = "model.backbone."


def _drop_grad_scale(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """Step post-hook: the clipping scale set for one step must not leak into the next."""
    optimizer.__dict__.pop("grad_scale", None)


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
        controlnet_frame_time: give the ControlNet's latent frames their absolute time, so time-embedded tokens
            can be matched to them (a departure from the paper, SPEC §10; ``false`` = paper-faithful).
        cfg_dropout: probability of replacing a sample's tokens by the null condition during training.
        timesteps: training timestep distribution (``logit_normal`` = SAO; ``uniform``).
        timestep_shift: multiply the noise-to-signal ratio of training timesteps (> 1: more training at high
            noise, where the streams decide coarse structure; see ``objective.shift_timesteps``).
        x0_weight_cap: for an x0-parameterised backbone (model config ``diffusion.prediction: x0``), the cap of
            the x0-error weight 1/σ² (``objective.loss_weights``); unused for a v backbone (SAO).
        pan_loss_weight: weight of the stereo-image (pan) channels of a parametric-stereo latent in the loss,
            relative to its waveform channels (1 = plain MSE; a departure for the weight-free latent only, see
            docs/ablations.md). Any other value needs a pretransform with pan channels.
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
        max_nonfinite_steps: consecutive optimiser steps with a non-finite loss or gradient that are skipped
            (with a warning each) before training stops with an error.
        compile: ``torch.compile`` the backbone DiT and the ControlNet's DiT copy (lazily, at their first call;
            the state-dict keys do not change). Pays off on a GPU for long runs; compiling takes minutes.
        checkpoint_dtype: dtype the trainable weights are stored in by ``on_save_checkpoint``: ``"bfloat16"``
            halves the checkpoint (optimiser state, when saved, stays fp32); loading upcasts to the parameters'
            dtype (fp32 master weights).
        clip_in_optimizer: norm clipping (``trainer.gradient_clip_val``) is applied by the fused AdamW step itself
            (its ``grad_scale`` input) instead of a separate multiply over every gradient; a step whose gradient
            norm is under the threshold touches no gradient. Falls back to the multiply for other optimisers
            and under a ``GradScaler`` (``16-mixed``).
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
        controlnet_frame_time: bool = True,
        cfg_dropout: float = 0.1,
        timesteps: TimestepDistribution = "logit_normal",
        timestep_shift: float = 1.0,
        x0_weight_cap: float = 5.0,
        pan_loss_weight: float = 1.0,
        val_timesteps: int = 8,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.95, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 1e-3,
        sampler: Sampler | None = None,
        clap_checkpoint: str | None = None,
        fad: bool = True,
        seed: int = 0,
        max_nonfinite_steps: int = 10,
        compile: bool = False,
        checkpoint_dtype: Literal["float32", "bfloat16"] = "float32",
        clip_in_optimizer: bool = True,
    ):
        super().__init__()
        # Evaluation-time settings stay out of the hyper-parameters: LightningCLI re-applies a checkpoint's
        # hyper-parameters over the command line at `test`/`predict`, which would silently ignore e.g.
        # `--model.sampler.cfg_scale 6`. The run's config.yaml still records them.
        self.save_hyperparameters(
            ignore=[
                "backbone",
                "depth",
                "boxes",
                "clap",
                "envelope",
                "sampler",
                "clap_checkpoint",
                "fad",
                "seed",
                "max_nonfinite_steps",
            ]
        )
        self.clap_checkpoint, self.fad, self.seed, self.max_nonfinite_steps = (
            clap_checkpoint,
            fad,
            seed,
            max_nonfinite_steps,
        )
        self.model = StereoSyncModel(
            backbone,
            depth,
            boxes,
            clap,
            envelope,
            controlnet_depth_factor,
            controlnet_checkpointing,
            controlnet_frame_time,
        )
        if pan_loss_weight != 1.0 and not hasattr(backbone.pretransform, "channel_weights"):
            raise ValueError(
                f"pan_loss_weight={pan_loss_weight} needs a latent with pan channels (model config pretransform "
                f"type parametric_stereo); this backbone's pretransform is {type(backbone.pretransform).__name__}"
            )
        if pan_loss_weight < 0:
            raise ValueError(f"pan_loss_weight must be ≥ 0, got {pan_loss_weight}")
        self.skipped: Counter = Counter()  # bad data skipped by the loader this epoch, per reason
        self.nonfinite_total, self.nonfinite_run = 0, 0
        self._batch_keys: list[str] = []
        self.sampler = Sampler(**sampler) if isinstance(sampler, dict) else (sampler or Sampler())
        if compile:  # nn.Module.compile: in place and lazy, so checkpoints keep their keys
            self.backbone.dit.compile()
            if self.model.controlnet is not None:
                self.model.controlnet.dit.compile()

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
        weights = loss_weights(t, self.backbone.prediction, self.hparams.x0_weight_cap)
        pan_weight = self.hparams.pan_loss_weight
        channels = self.backbone.pretransform.channel_weights(pan_weight) if pan_weight != 1.0 else None
        return v_loss(self.model(x_t, t, cond), target, weights, channels)

    def on_train_epoch_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if hasattr(datamodule, "set_epoch"):
            datamodule.set_epoch(self.current_epoch)

    def on_train_epoch_end(self) -> None:
        for reason, n in sorted(self.skipped.items()):
            self.log(f"data/skipped_{reason}", float(n), reduce_fx="sum", sync_dist=True)
        if self.skipped:
            log.warning("epoch %d: the loader skipped bad samples: %s", self.current_epoch, dict(self.skipped))
        self.skipped.clear()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.skipped.update(batch.get("skipped", {}))
        self._batch_keys = list(batch.get("__key__", []))
        b = batch["clap"].shape[0]
        t = sample_timesteps(b, self.hparams.timesteps, device=self.device)
        t = shift_timesteps(t, self.hparams.timestep_shift)
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

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Non-finite guard: a step whose loss or gradients are not finite is skipped (all grads dropped)."""
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        # The total norm is finite iff every gradient is: one reduction pass, ~10× cheaper on a CPU than
        # isfinite() per tensor (which cost 2 s per step for the real-size ControlNet). Norm clipping reuses it.
        norm = torch.nn.utils.get_total_norm(grads) if grads else None
        self._grad_norm = norm
        if norm is None or bool(torch.isfinite(norm)):
            self.nonfinite_run = 0
            if norm is not None and self._trainer is not None:
                self.log("train/grad_norm", norm, batch_size=1)
            return
        self._grad_norm = None
        self.nonfinite_total += 1
        self.nonfinite_run += 1
        optimizer.zero_grad(set_to_none=True)  # AdamW leaves parameters without a gradient untouched
        self.log("train/nonfinite_steps", float(self.nonfinite_total))
        log.warning(
            "step %d: non-finite loss/gradient, optimiser step skipped (%d in a row; batch %s)",
            self.global_step,
            self.nonfinite_run,
            self._batch_keys,
        )
        if self.nonfinite_run >= self.max_nonfinite_steps:
            raise RuntimeError(
                f"{self.nonfinite_run} consecutive non-finite steps, the last at global step "
                f"{self.global_step} with batch keys {self._batch_keys}: stopping (lower the "
                f"learning rate, check the data, or raise model.max_nonfinite_steps)"
            )

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Norm clipping with the total norm the non-finite guard already computed (one norm pass per step)."""
        norm = getattr(self, "_grad_norm", None)
        self._grad_norm = None
        # Only where every rank holds the whole, already reduced gradient (not FSDP/DeepSpeed shards); no trainer
        # (a benchmark driving the hooks by hand) means one process.
        strategy = self._trainer.strategy if self._trainer is not None else None
        local = strategy is None or isinstance(strategy, pl.strategies.SingleDeviceStrategy | pl.strategies.DDPStrategy)
        if norm is None or not local or not gradient_clip_val or gradient_clip_algorithm not in (None, "norm"):
            return super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
        coef = float(gradient_clip_val) / (float(norm) + 1e-6)  # torch's clip_grads_with_norm_ coefficient
        if coef >= 1.0:
            return  # torch would multiply every gradient by 1.0
        if self.hparams.get("clip_in_optimizer", True) and self._can_clip_in_optimizer(optimizer):
            # fused Adam(W) divides each gradient by grad_scale as it reads it: the clipped update, no extra pass
            optimizer.grad_scale = torch.full((), 1.0 / coef, dtype=torch.float32, device=norm.device)
            if not getattr(optimizer, "_stereosync_grad_scale_hook", False):
                optimizer.register_step_post_hook(_drop_grad_scale)
                optimizer._stereosync_grad_scale_hook = True
            return
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        torch._foreach_mul_([p.grad for p in params], coef)

    def _can_clip_in_optimizer(self, optimizer: torch.optim.Optimizer) -> bool:
        """A fused torch Adam/AdamW, and no GradScaler (which owns the optimiser's grad_scale input)."""
        if not isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW):
            return False
        if not all(group.get("fused") for group in optimizer.param_groups):
            return False
        plugin = self._trainer.precision_plugin if self._trainer is not None else None
        return getattr(plugin, "scaler", None) is None

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = self.model.trainable_parameters()
        log.info(
            "StereoSync: optimising %.2f M trainable parameters (backbone frozen: %.2f M)",
            sum(p.numel() for p in params) / 1e6,
            sum(p.numel() for p in self.backbone.parameters()) / 1e6,
        )
        fused = all(p.device.type in ("cpu", "cuda") for p in params)  # one kernel: 5x faster on a CPU
        return torch.optim.AdamW(
            params,
            lr=self.hparams.lr,
            betas=tuple(self.hparams.betas),
            eps=self.hparams.eps,
            weight_decay=self.hparams.weight_decay,
            fused=True if fused and params else None,
        )

    # --- evaluation --------------------------------------------------------------------------------------
    def clap_encoder(self) -> torch.nn.Module:
        """The (cached) frozen LAION-CLAP audio encoder for FAD and reference audio."""
        if getattr(self, "_clap", None) is None:
            from stereosync.clap import ClapAudioEncoder

            clap = ClapAudioEncoder(self.clap_checkpoint).to(self.device)
            if self.clap_checkpoint is None:
                clap.name += "-random"
            object.__setattr__(self, "_clap", clap)  # not a submodule: never in a checkpoint
        return self._clap

    def on_test_start(self) -> None:
        from stereosync.metrics import build_metrics

        embedder = self.clap_encoder() if self.fad else None
        metrics = build_metrics(self.backbone.sample_rate, fad_embedder=embedder, prefix="test/").to(self.device)
        object.__setattr__(self, "test_metrics", metrics)  # kept out of state_dict and of strict loading

    def clip_seeds(self, keys: list[str]) -> list[int]:
        """Per-clip seeds: a function of the base seed and the clip's key only (batching does not matter)."""
        return [(self.seed * 1_000_003 + zlib.crc32(str(k).encode())) % 2**31 for k in keys]

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
        values = self.test_metrics.compute()  # synced across ranks; the collection returns a flat dict
        self.log_dict({k: v.float() for k, v in values.items()}, sync_dist=False)
        self.test_metrics.reset()

    def predict_step(self, batch: dict, batch_idx: int) -> dict[str, Any]:
        """Generate each chunk (seeded by its key); the prediction writer assembles videos from them."""
        generated = self.generate(batch, self.clip_seeds(batch["__key__"]))
        return {
            "generated": generated.cpu(),
            "meta": batch["meta"],
            "keys": batch["__key__"],
            "sample_rate": self.backbone.sample_rate,
        }

    # --- generation --------------------------------------------------------------------------------------
    def generate(self, batch: dict, seeds: list[int] | None = None) -> torch.Tensor:
        """Stereo audio (B, 2, T) for a batch, T = the batch's chunk length at the backbone's sample rate."""
        cond = self.model.condition(batch)
        num_samples = int(round(float(batch["seconds_total"][0]) * self.backbone.sample_rate))
        b = cond.global_cond.shape[0]
        seeds = seeds if seeds is not None else list(range(b))
        latent = self.sampler(self.model, cond, self.backbone.latent_frames(num_samples), seeds)
        return self.backbone.decode(latent, num_samples).clamp(-1, 1)

    # --- start-up checks ----------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Fail before any long work when the data cannot feed this model (names the shard and the config key)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None or not hasattr(datamodule, "peek"):
            return
        data_rate = getattr(getattr(datamodule, "hparams", {}), "sample_rate", None)
        if data_rate is not None and int(data_rate) != self.backbone.sample_rate:
            raise ValueError(f"data.sample_rate = {data_rate} but the backbone runs at {self.backbone.sample_rate} Hz")
        sample = datamodule.peek(stage)
        if sample is not None:
            self.model.check_sample(sample)

    # --- checkpoints: trainable weights only -------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["stereosync_rng"] = rng_state()
        checkpoint["stereosync_guard"] = {"nonfinite_total": self.nonfinite_total}
        state = checkpoint["state_dict"]
        if self.backbone.frozen:
            for key in [k for k in state if k.startswith(BACKBONE_PREFIX)]:
                del state[key]
        if self.hparams.checkpoint_dtype != "float32":
            dtype = getattr(torch, self.hparams.checkpoint_dtype)
            for key, value in state.items():
                if value.is_floating_point() and not key.startswith(BACKBONE_PREFIX):
                    state[key] = value.to(dtype)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "stereosync_rng" in checkpoint:
            self._rng_to_restore = checkpoint["stereosync_rng"]
        self.nonfinite_total = checkpoint.get("stereosync_guard", {}).get("nonfinite_total", 0)
        own = self.state_dict()
        state = checkpoint.get("state_dict", {})
        for key, value in state.items():  # bf16-stored weights (checkpoint_dtype) back to the master dtype
            if key in own and value.is_floating_point() and value.dtype != own[key].dtype:
                state[key] = value.to(own[key].dtype)

    def on_train_start(self) -> None:
        """Resume: restore the RNG streams last (Lightning seeds and builds loaders in between)."""
        state = getattr(self, "_rng_to_restore", None)
        if state is not None:
            set_rng_state(state)
            self._rng_to_restore = None

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Load trainable weights; the backbone keeps the weights it was built with (its own file)."""
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        missing = [k for k in result.missing_keys if not (k.startswith(BACKBONE_PREFIX) and self.backbone.frozen)]
        if strict and (missing or result.unexpected_keys):
            raise RuntimeError(
                f"checkpoint does not match the model: missing trainable keys {missing[:8]}, "
                f"unexpected keys {result.unexpected_keys[:8]} — was it trained with other "
                f"streams switched on or off?"
            )
        return result
