"""The StereoSync LightningModule: thin glue between the data, the model, the objective and the optimiser."""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from torch.optim import Optimizer

from stereosync.models.backbone import Backbone
from stereosync.models.encoders import BoxEncoder, ClapEncoder, DepthEncoder
from stereosync.models.envelope_control import EnvelopeControl
from stereosync.models.objective import (
    TimestepDistribution,
    check_pan_loss_weight,
    loss_weights,
    noise_and_target,
    pan_channel_weights,
    sample_timesteps,
    shift_timesteps,
    v_loss,
)
from stereosync.models.sampling import Sampler
from stereosync.models.spatial_control import SpatialControl
from stereosync.models.stereosync import StereoSyncModel
from stereosync.rng import set_rng_state
from stereosync.training.checkpointing import (
    check_trainable_keys,
    save_trainable,
    upcast_stored_weights,
)
from stereosync.training.clipping import clip_with_norm
from stereosync.training.guard import guard_step
from stereosync.training.optimizer import build_adamw, build_lr_scheduler

log = logging.getLogger(__name__)


_MODULES = ("backbone", "depth", "boxes", "clap", "envelope", "spatial_control")
_EVALUATION_SETTINGS = ("sampler", "clap_checkpoint", "fad", "seed", "max_nonfinite_steps")


class StereoSync(pl.LightningModule):
    """Video-to-stereo-audio: frozen SAO + trainable ControlNet and conditioning projections.

    Args:
        backbone: the frozen backbone (its weights never enter a checkpoint; they reload from its own file).
        depth: depth stream; ``null`` switches it off (ablation).
        boxes: box stream; ``null`` switches it off.
        clap: CLAP stream; ``null`` switches it off.
        envelope: envelope stream (ControlNet input); ``null`` switches the ControlNet off.
        spatial_control: the tracked boxes on the latent time grid as a second ControlNet input (a departure from
            the paper, :mod:`stereosync.models.spatial_control`); ``null`` (default) = the paper's model.
        controlnet_depth_factor: fraction of DiT blocks copied into the ControlNet (0.2 → 4 of 24).
        controlnet_checkpointing: activation checkpointing in the ControlNet blocks.
        controlnet_frame_time: give the ControlNet's latent frames their absolute time, so time-embedded tokens
            can be matched to them (a departure from the paper, docs/design.md#departures; ``false`` = paper-faithful).
        controlnet_output_residual: the ControlNet also adds a residual to the output of the DiT's last block, so
            the control reaches the prediction without passing the frozen blocks after the copied ones (a
            departure from the paper, :mod:`stereosync.models.controlnet`; ``false`` = paper-faithful).
        controlnet_input_gain: constant scale of the ControlNet's zero-initialised input convs (envelope, frame
            time, spatial control), i.e. their learning rate times this under Adam, so a control read from the
            noisy latent can rise above its noise early in training (1 = the paper's design;
            :mod:`stereosync.models.controlnet`).
        cfg_dropout: probability of replacing a sample's tokens by the null condition during training.
        timesteps: training timestep distribution (``logit_normal`` = SAO; ``uniform``).
        timestep_shift: multiply the noise-to-signal ratio of training timesteps (> 1: more training at high
            noise, where the streams decide coarse structure; see ``objective.shift_timesteps``).
        x0_weight_cap: for an x0-parameterised backbone (model config ``diffusion.prediction: x0``), the cap of
            the x0-error weight 1/σ² (``objective.loss_weights``); unused for a v backbone (SAO).
        pan_loss_weight: weight of the stereo-image (pan) channels of a parametric-stereo latent in the loss,
            relative to its waveform channels (1 = plain MSE; a departure for the weight-free latent only, see
            docs/experiments.md). Any other value needs a pretransform with pan channels.
        pan_loss_from_t: ``pan_loss_weight`` applies to training samples at diffusion time t ≥ this only (0: all),
            i.e. at the high noise where the stereo image is decided and the waveform channels are unpredictable.
        val_timesteps: number of fixed timesteps the validation loss averages over (deterministic noise).
        lr: AdamW learning rate.
        lr_schedule: ``constant`` (default) or ``cosine``: the rate falls along half a cosine from ``lr`` to
            ``lr · lr_min_ratio`` over ``trainer.max_steps`` optimiser steps (stepped per optimiser step).
        lr_min_ratio: the cosine schedule's final rate as a fraction of ``lr``.
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
        spatial_control: SpatialControl | None = None,
        controlnet_depth_factor: float = 0.2,
        controlnet_checkpointing: bool = True,
        controlnet_frame_time: bool = True,
        controlnet_output_residual: bool = False,
        controlnet_input_gain: float = 1.0,
        cfg_dropout: float = 0.1,
        timesteps: TimestepDistribution = "logit_normal",
        timestep_shift: float = 1.0,
        x0_weight_cap: float = 5.0,
        pan_loss_weight: float = 1.0,
        pan_loss_from_t: float = 0.0,
        val_timesteps: int = 8,
        lr: float = 1e-4,
        lr_schedule: Literal["constant", "cosine"] = "constant",
        lr_min_ratio: float = 0.05,
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
        self.save_hyperparameters(ignore=[*_MODULES, *_EVALUATION_SETTINGS])
        self.clap_checkpoint, self.fad, self.seed = clap_checkpoint, fad, seed
        self.max_nonfinite_steps = max_nonfinite_steps
        streams = (depth, boxes, clap, envelope)
        self.model = StereoSyncModel(
            backbone,
            *streams,
            controlnet_depth_factor,
            controlnet_checkpointing,
            controlnet_frame_time,
            spatial_control=spatial_control,
            controlnet_output_residual=controlnet_output_residual,
            controlnet_input_gain=controlnet_input_gain,
        )
        check_pan_loss_weight(pan_loss_weight, backbone.pretransform)
        if not 0.0 <= pan_loss_from_t < 1.0:
            raise ValueError(f"model.pan_loss_from_t must be in [0, 1), got {pan_loss_from_t}")
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

    @property
    def output_format(self) -> str:
        """What :meth:`generate` returns: ``binaural`` for a binaural latent (the end-to-end route), else ``stereo``."""
        return getattr(self.backbone.pretransform, "output_format", "stereo")

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
        hp = self.hparams
        channels = pan_channel_weights(
            self.backbone.pretransform, t, hp.pan_loss_weight, hp.get("pan_loss_from_t", 0.0)
        )
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
        """Non-finite guard (:mod:`stereosync.training.guard`); keeps the total norm for clipping."""
        self._grad_norm = guard_step(self, optimizer)

    def configure_gradient_clipping(
        self, optimizer: Optimizer, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        """Norm clipping with the guard's total norm, in fused AdamW's step (:mod:`stereosync.training.clipping`)."""
        norm, self._grad_norm = getattr(self, "_grad_norm", None), None
        in_optimizer = self.hparams.get("clip_in_optimizer", True)
        if not clip_with_norm(optimizer, norm, gradient_clip_val, gradient_clip_algorithm, self._trainer, in_optimizer):
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self) -> torch.optim.Optimizer | dict[str, Any]:
        hp = self.hparams
        optimizer = build_adamw(
            self.model.trainable_parameters(), self.backbone, hp.lr, hp.betas, hp.eps, hp.weight_decay
        )
        schedule = hp.get("lr_schedule", "constant")
        if schedule == "constant":
            return optimizer
        total = int(self.trainer.max_steps) if self._trainer is not None else -1
        scheduler = build_lr_scheduler(optimizer, schedule, total, hp.get("lr_min_ratio", 0.05))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

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
        sr = self.backbone.sample_rate
        metrics = build_metrics(sr, fad_embedder=embedder, prefix="test/", spatial_formats=True).to(self.device)
        object.__setattr__(self, "test_metrics", metrics)  # kept out of state_dict and of strict loading

    def clip_seeds(self, keys: list[str], metas: list[dict] | None = None) -> list[int]:
        """Per-clip seeds: a function of the base seed and the clip's identity only (batching does not matter).

        A chunk extracted from a video file is identified by the file's content hash and the chunk's index
        (``content_id`` and ``chunk_index`` in its json), so the same video gives the same audio from any folder
        or name; other samples (synthetic shards) by their key.
        """
        metas = metas if metas is not None else [{}] * len(keys)
        ids = [
            f"{m['content_id']}:{m['chunk_index']}" if "content_id" in m and "chunk_index" in m else str(k)
            for k, m in zip(keys, metas)
        ]
        return [(self.seed * 1_000_003 + zlib.crc32(i.encode())) % 2**31 for i in ids]

    def test_step(self, batch: dict, batch_idx: int) -> dict[str, Any]:
        """Generate every clip, update the metric collection; per-clip values go to the output writer."""
        from stereosync.metrics.per_clip import clip_records

        generated = self.generate(batch, self.clip_seeds(batch["__key__"], batch.get("meta")))
        target = batch["audio"].float()
        timing = {k: batch[k] for k in ("events", "events_mask", "has_events") if k in batch}  # shards of v3+
        self.test_metrics.update(
            preds=generated,
            target=target,
            boxes=batch["boxes"],
            box_mask=batch["box_mask"],
            **self.spatial_formats(generated, batch),
            **timing,
        )
        sr = self.backbone.sample_rate
        clips = clip_records(batch["__key__"], generated, target, sr, batch["boxes"], batch["box_mask"])
        return {"generated": generated, "target": target, "keys": batch["__key__"], "clips": clips, "sample_rate": sr}

    def spatial_formats(self, generated: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        """The two-stage binaural / FOA renders of the generated stereo, for batches whose data carries them.

        A model that generates binaural (:attr:`output_format`) is scored on its own output: it is not rendered
        again, and it has no FOA.
        """
        from stereosync.spatial.spatialise import spatialise

        if self.output_format == "binaural":
            return {"binaural": generated} if "binaural" in batch else {}
        out = {}
        for fmt in ("binaural", "foa"):
            if fmt in batch:
                clips = [
                    spatialise(
                        g.float().cpu().numpy(), self.backbone.sample_rate, b.cpu().numpy(), m.cpu().numpy(), fmt=fmt
                    )
                    for g, b, m in zip(generated, batch["boxes"], batch["box_mask"])
                ]
                out[fmt] = torch.stack([torch.from_numpy(c) for c in clips]).to(generated.device)
        return out

    def on_test_epoch_end(self) -> None:
        from stereosync.metrics.collection import SPATIAL_FORMAT_KEYS

        values = self.test_metrics.compute()  # synced across ranks; the collection returns a flat dict
        # binaural / FOA scores exist only where the test data carries those formats (NaN otherwise)
        values = {k: v for k, v in values.items() if not (k.removeprefix("test/") in SPATIAL_FORMAT_KEYS and v.isnan())}
        self.log_dict({k: v.float() for k, v in values.items()}, sync_dist=False)
        self.test_metrics.reset()

    def predict_step(self, batch: dict, batch_idx: int) -> dict[str, Any]:
        """Generate each chunk (seeded by its video's content and index); the prediction writer assembles videos.

        A batch that fails to generate returns ``{"error": "<type>: <message>", "meta", "keys"}`` instead of
        raising: batches never mix videos, so the writer records that video as failed and the others go on.
        """
        sr = self.backbone.sample_rate
        keys = batch["__key__"]
        try:
            generated = self.generate(batch, self.clip_seeds(keys, batch.get("meta")))
        except Exception as err:  # noqa: BLE001 - one video's failure must not lose the other videos' audio
            source = batch["meta"][0].get("source") if batch.get("meta") else None
            log.error(
                "predict: generating samples %s of %s failed: %s: %s", ", ".join(keys), source, type(err).__name__, err
            )
            log.debug("generation failed", exc_info=True)
            return {"error": f"{type(err).__name__}: {err}", "meta": batch["meta"], "keys": keys, "sample_rate": sr}
        return {"generated": generated.cpu(), "meta": batch["meta"], "keys": keys, "sample_rate": sr}

    # --- generation --------------------------------------------------------------------------------------
    def generate(self, batch: dict, seeds: list[int] | None = None) -> torch.Tensor:
        """Audio (B, 2, T) for a batch, T = the batch's chunk length at the backbone's sample rate: stereo, or
        binaural ears for a binaural latent (:attr:`output_format`)."""
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
        if datamodule is not None and hasattr(datamodule, "peek"):
            self.model.check_datamodule(datamodule, stage)

    # --- checkpoints: trainable weights only (stereosync.training.checkpointing) ---------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        save_trainable(checkpoint, self.backbone.frozen, self.hparams.checkpoint_dtype, self.nonfinite_total)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "stereosync_rng" in checkpoint:
            self._rng_to_restore = checkpoint["stereosync_rng"]
        self.nonfinite_total = checkpoint.get("stereosync_guard", {}).get("nonfinite_total", 0)
        upcast_stored_weights(checkpoint, self.state_dict())

    def on_train_start(self) -> None:
        """Resume: restore the RNG streams last (Lightning seeds and builds loaders in between)."""
        state = getattr(self, "_rng_to_restore", None)
        if state is not None:
            set_rng_state(state)
            self._rng_to_restore = None

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Load trainable weights; the backbone keeps the weights it was built with (its own file)."""
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        if strict:
            check_trainable_keys(result, self.backbone.frozen)
        return result
