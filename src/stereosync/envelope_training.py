"""Training the envelope predictor: a LightningModule over the same shards as StereoSync.

``python train.py fit --config configs/envelope_predictor.yaml`` trains
:class:`~stereosync.models.envelope_predictor.EnvelopePredictor` with the envelope of each chunk's own audio
as the target (the shard's ``envelope`` member, or one computed from ``audio``, after the DataModule's peak
normalisation). Validation and test log, per chunk averaged over chunks:

- ``<stage>/e_l1``: mean |predicted − reference| of the mono envelope at audio rate (linear amplitude);
- ``<stage>/onset_f1``: F1 of the envelope onsets (``stereosync.metrics.functional.envelope_onsets``,
  ±50 ms) — pooled over chunks (matches and counts summed, then the ratio);
- ``<stage>/corr``: Pearson correlation of predicted and reference frame-rate envelopes.

``export`` writes the trained predictor as one safetensors file for ``data.envelope_predictor``::

    python -m stereosync.envelope_training export runs/envelope/version_0/checkpoints/last.ckpt out.safetensors
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

import lightning.pytorch as pl
import numpy as np
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from stereosync.data.schema import require_motion
from stereosync.envelope import rms_envelope
from stereosync.models.envelope_predictor import EnvelopePredictor, OutputDesign

log = logging.getLogger(__name__)


class EnvelopePredictorModule(pl.LightningModule):
    """Fits an :class:`EnvelopePredictor` to the envelopes of the shards' audio.

    Args:
        num_objects: K of the shards' boxes.
        hidden: predictor width.
        output: ``log`` (L1 on the log envelope) or ``mulaw`` (μ-law classes, smoothed cross-entropy).
        bins: μ-law classes.
        mu: μ-law companding constant.
        smoothing: Gaussian label smoothing in bins.
        upsample: envelope values per box frame.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        sample_rate: audio rate of the shards (Hz), for the onset tolerance in samples.
        onset_weight: > 0 adds the predictor's onset head, trained with this weight on a BCE against the true
            event times of batches that carry ``events`` (the synthetic scenes); 0: no onset head.
        onset_pos_weight: BCE weight of the positive steps (a step starts on about 1 of 30 envelope steps).
        box_fps: box frame rate of the shards, for the onset steps' times.
        l1_weight: > 0 adds this weight times the mean |decoded envelope − target| relative to the batch's mean
            target (linear amplitude): the quantity E-L1 scores, which the class loss alone does not minimise
            when the level is uncertain (the footstep material, which sets a peak-normalised chunk's envelope
            level, is not in the picture).
        clap_dim: > 0: the predictor also reads each chunk's CLAP embedding (the shards' ``clap`` member, of
            this width), the timbre reference the generator receives; the shards must store real embeddings
            (``data.synthetic.clap_checkpoint`` for the synthetic scenes). 0: the picture alone.
        init_from: an envelope-predictor file (``pkg://`` for shipped ones) whose weights start the training —
            fine-tuning on other footage, or adding a CLAP input to a picture-only predictor (the new FiLM layer
            starts at zero, so training starts from the file's output). Its architecture must match the one
            given here; only layers the file lacks (FiLM, onset head) keep their fresh initialisation.
        freeze: predictor layers left as they start (``norm``, ``conv``, ``lstm``, ``head``, ``film``, ``onset``):
            with ``init_from``, e.g. ``[conv, lstm]`` keeps the file's timing features and trains the rest.
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
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        sample_rate: int = 16000,
        onset_weight: float = 0.0,
        onset_pos_weight: float = 10.0,
        box_fps: float = 30.0,
        l1_weight: float = 0.0,
        clap_dim: int = 0,
        init_from: str | None = None,
        freeze: Sequence[str] = (),
    ):
        super().__init__()
        self.save_hyperparameters()
        self.predictor = EnvelopePredictor(
            num_objects, hidden, output, bins, mu, smoothing, upsample, onset_head=onset_weight > 0, clap_dim=clap_dim
        )
        if init_from:
            load_initial_weights(self.predictor, init_from)
        layers = dict(self.predictor.named_children())
        unknown = sorted(set(freeze) - set(layers))
        if unknown:
            raise ValueError(f"model.init_args.freeze: no predictor layer {unknown}; the layers are {sorted(layers)}")
        for name in freeze:
            layers[name].requires_grad_(False)
        # a frozen batch norm keeps its statistics too; other layers stay in train mode (a cuDNN LSTM backpropagates
        # only in train mode, and the FiLM before a frozen LSTM needs its gradients)
        self._frozen = [m for name in freeze for m in layers[name].modules() if isinstance(m, _BatchNorm)]
        self.train(self.training)  # a module starts in train mode without a call to train()
        self._eval: dict[str, list[float]] = {}

    def train(self, mode: bool = True) -> EnvelopePredictorModule:
        """As :meth:`torch.nn.Module.train`, a frozen batch norm staying in eval mode (its statistics unchanged)."""
        super().train(mode)
        for layer in self._frozen:
            layer.eval()
        return self

    # --- data -----------------------------------------------------------------------------------------------
    def reference(self, batch: dict) -> torch.Tensor:
        """(B, C, S) envelope of the chunk's own audio (the stored member, else computed)."""
        if "envelope" in batch:
            return batch["envelope"].float()
        if "audio" not in batch:
            raise ValueError(f"batch {batch.get('__key__')}: no envelope or audio to learn from (a silent chunk?)")
        return rms_envelope(batch["audio"].float(), self.hparams.sample_rate, "mono")

    def setup(self, stage: str) -> None:
        """Fail at start-up when the shards lack ``motion`` (schema version 1) — naming the shard."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None or not hasattr(datamodule, "peek"):
            return
        data_rate = getattr(datamodule, "hparams", {}).get("sample_rate")
        if data_rate is not None and int(data_rate) != int(self.hparams.sample_rate):
            raise ValueError(
                f"data.sample_rate is {data_rate} Hz but model.init_args.sample_rate is {self.hparams.sample_rate}: "
                f"give both the shards' rate (the exported file records it, and predict checks it)"
            )
        sample = datamodule.peek(stage)
        require_motion(sample, "the envelope predictor")
        if sample is not None and self.hparams.clap_dim:
            clap = sample.get("clap")
            if clap is None or sample["json"].get("clap") == "none" or not np.abs(np.asarray(clap)).any():
                raise ValueError(
                    f"shard {sample.get('__url__')}, sample {sample.get('__key__')}: no CLAP embedding (json clap: "
                    f"{sample['json'].get('clap')!r}), which model.init_args.clap_dim={self.hparams.clap_dim} reads: "
                    f"write the synthetic scenes with data.synthetic.clap_checkpoint=FILE, or extract the videos "
                    f"with a CLAP checkpoint"
                )
            if np.asarray(clap).shape[-1] != self.hparams.clap_dim:
                raise ValueError(
                    f"shard {sample.get('__url__')}: clap is {np.asarray(clap).shape[-1]}-d but "
                    f"model.init_args.clap_dim = {self.hparams.clap_dim}"
                )
        if sample is not None and sample["boxes"].shape[1] != self.hparams.num_objects:
            raise ValueError(
                f"shard {sample.get('__url__')}: boxes track {sample['boxes'].shape[1]} objects but "
                f"model.init_args.num_objects = {self.hparams.num_objects}"
            )

    # --- steps ----------------------------------------------------------------------------------------------
    def _clap(self, batch: dict) -> torch.Tensor | None:
        """The batch's CLAP embeddings when the predictor reads them."""
        return batch["clap"] if self.hparams.get("clap_dim", 0) else None

    def _raw_and_target(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self.predictor(batch["motion"], batch["boxes"], batch["box_mask"], self._clap(batch))
        target = self.predictor.target(self.reference(batch), batch["motion"].shape[1])
        return raw, target

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        p = self.predictor
        h = p.encode(batch["motion"], batch["boxes"], batch["box_mask"], self._clap(batch))
        target = p.target(self.reference(batch), batch["motion"].shape[1])
        raw = p.envelope_head(h)
        loss = p.loss(raw, target)
        self.log("train/loss", loss, prog_bar=True, batch_size=target.shape[0])
        if self.hparams.l1_weight > 0:
            l1 = (p.decode(raw) - target).abs().mean() / target.mean().detach().clamp(min=1e-6)
            self.log("train/relative_l1", l1, batch_size=target.shape[0])
            loss = loss + self.hparams.l1_weight * l1
        if self.hparams.onset_weight > 0 and "events" in batch and bool(batch["has_events"].any()):
            has = batch["has_events"].bool()
            frames = batch["motion"].shape[1]
            onsets = p.onset_target(batch["events"], batch["events_mask"], frames, self.hparams.box_fps)
            pos = torch.tensor(self.hparams.onset_pos_weight, device=onsets.device)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(
                p.onset_logits(h)[has], onsets[has], pos_weight=pos
            )
            self.log("train/onset_bce", bce, batch_size=int(has.sum()))
            loss = loss + self.hparams.onset_weight * bce
        return loss

    def _evaluate(self, batch: dict, stage: str) -> None:
        from stereosync.metrics.functional import envelope_onsets, onset_matches

        raw, target = self._raw_and_target(batch)
        b = target.shape[0]
        self.log(f"{stage}/loss", self.predictor.loss(raw, target), batch_size=b, sync_dist=True)
        ref = self.reference(batch).mean(1)  # (B, S)
        frame_pred = self.predictor.decode(raw)
        pred = self.predictor.to_audio_rate(frame_pred, ref.shape[-1])[:, 0]
        rate = self.hparams.sample_rate
        acc = self._eval.setdefault(stage, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # e_l1 sum, n, matches, est, ref, corr
        for i in range(b):
            acc[0] += float((pred[i] - ref[i]).abs().mean())
            acc[1] += 1
            est_on = envelope_onsets(pred[i].cpu().numpy(), rate)
            ref_on = envelope_onsets(ref[i].cpu().numpy(), rate)
            acc[2] += onset_matches(est_on, ref_on)
            acc[3] += len(est_on)
            acc[4] += len(ref_on)
            x, y = frame_pred[i].cpu().numpy(), target[i].cpu().numpy()
            acc[5] += float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else 0.0

    def _log_eval(self, stage: str) -> None:
        acc = self._eval.pop(stage, None)
        if not acc or not acc[1]:
            return
        f1 = 2 * acc[2] / (acc[3] + acc[4]) if acc[3] + acc[4] else 1.0
        self.log_dict({f"{stage}/e_l1": acc[0] / acc[1], f"{stage}/onset_f1": f1, f"{stage}/corr": acc[5] / acc[1]})

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_eval("val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_eval("test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"model.init_args.freeze {list(self.hparams.freeze)} leaves no trainable layer")
        return torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)


def load_initial_weights(predictor: EnvelopePredictor, path: str | os.PathLike) -> None:
    """Copy an envelope-predictor file's weights into ``predictor`` (``init_from``).

    Raises:
        ValueError: not an envelope-predictor file, or its architecture differs from ``predictor``'s (naming the
            file and the differing settings), or it holds layers ``predictor`` lacks.
    """
    from stereosync.models.envelope_predictor import file_info

    config, _ = file_info(path)  # raises for a file of another kind
    shape = ("num_objects", "hidden", "output", "bins", "mu", "upsample", "motion_scale")
    differ = {k: (config.get(k), predictor.config[k]) for k in shape if config.get(k) != predictor.config[k]}
    if differ:
        detail = ", ".join(f"{k} {a!r} in the file, {b!r} here" for k, (a, b) in differ.items())
        raise ValueError(f"model.init_args.init_from {path}: another architecture ({detail})")
    source = EnvelopePredictor.from_pretrained(path)
    missing, unexpected = predictor.load_state_dict(source.state_dict(), strict=False)
    if unexpected:
        raise ValueError(
            f"model.init_args.init_from {path}: the file has layers this predictor lacks "
            f"({', '.join(sorted({k.split('.')[0] for k in unexpected}))}); give the same clap_dim / onset_weight"
        )
    log.info("envelope predictor starts from %s (fresh: %s)", path, sorted({k.split(".")[0] for k in missing}) or "-")


def export(checkpoint: str | os.PathLike, out: str | os.PathLike, gain: float = 1.0) -> EnvelopePredictor:
    """Write the predictor of a Lightning checkpoint as a safetensors file, with a level ``gain``; returns it."""
    ckpt = torch.load(os.fspath(checkpoint), map_location="cpu", weights_only=True)
    hp = ckpt.get("hyper_parameters", {})
    keys = ("num_objects", "hidden", "output", "bins", "mu", "smoothing", "upsample")
    missing = [k for k in keys if k not in hp]
    if missing:
        raise ValueError(f"{checkpoint}: not an envelope-predictor checkpoint (hyper-parameters lack {missing})")
    model = EnvelopePredictor(
        **{k: hp[k] for k in keys},
        onset_head=hp.get("onset_weight", 0.0) > 0,
        gain=gain,
        clap_dim=int(hp.get("clap_dim", 0)),
    )
    state = {k[len("predictor.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("predictor.")}
    model.load_state_dict(state)
    model.save_pretrained(out, sample_rate=hp.get("sample_rate"))
    return model


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stereosync.envelope_training export CKPT OUT``."""
    p = argparse.ArgumentParser(prog="python -m stereosync.envelope_training", description="Envelope predictor files.")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="write a checkpoint's predictor as safetensors")
    e.add_argument("checkpoint", help="Lightning checkpoint of configs/envelope_predictor.yaml")
    e.add_argument("out", help="output .safetensors file")
    e.add_argument("--gain", type=float, default=1.0, help="level calibration on the decoded envelope (default 1)")
    args = p.parse_args(argv)
    try:
        model = export(args.checkpoint, args.out, args.gain)
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: {err}")
        return 1
    size = os.path.getsize(args.out)
    clap = f", reads {model.clap_dim}-d CLAP" if model.clap_dim else ""
    print(f"wrote {args.out} ({size / 1e6:.2f} MB, output design {model.output}, gain {model.gain:g}{clap})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
