"""The rehearsal's demo stage: ``stereosync-demo``'s engine built from ``--config configs/sao.yaml`` and a
checkpoint of the rehearsal, voicing the silent video (experiments/rehearsal.py runs it as one stage).

Checks, in order: the checkpoint holds exactly the module's trainable tensors and they reload bit-exactly;
the recipe's own envelope predictor (16-kHz synthetic scenes) is refused for the silent video before any
extraction, naming ``--data.envelope_predictor``; with the rehearsal's 44.1-kHz predictor the engine writes
stereo 44.1-kHz audio as long as the video. Prints one line, ``demo: <summary>``; exits 1 on a failed check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from rehearsal_checks import BACKBONE_PREFIX, StageCheckError, need, wav


def reloads_exactly(engine, checkpoint: Path) -> str:
    state = torch.load(str(checkpoint), map_location="cpu", weights_only=False)["state_dict"]
    module = engine.module.state_dict()
    trainable = {k for k in module if not k.startswith(BACKBONE_PREFIX)}
    need(set(state) == trainable, f"{checkpoint}: {len(set(state) ^ trainable)} keys not the module's trainable ones")
    differ = [k for k, v in state.items() if v.dtype != module[k].dtype or not torch.equal(module[k], v)]
    need(not differ, f"{checkpoint}: {len(differ)} tensors differ after loading, e.g. {differ[:2]}")
    return f"{len(state)} trainable tensors reload bit-exactly"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--predict-models", required=True, help="ModelConfig fields as JSON")
    p.add_argument("--envelope-predictor", required=True, help="the predictor trained on the rehearsal's shards")
    p.add_argument("--video", required=True)
    p.add_argument("--reference", required=True, help="timbre of the silent video")
    p.add_argument("--work", required=True)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--data", default="{}", help="data settings over the recipe's, as JSON (chunk_seconds …)")
    args = p.parse_args()
    from stereosync.demo.engine import Engine
    from stereosync.media import video_duration

    try:
        engine = Engine(args.config, args.checkpoint, json.loads(args.predict_models), args.work)
        engine.data.update(json.loads(args.data))  # the engine's data section (the recipe's `data:`)
        exact = reloads_exactly(engine, Path(args.checkpoint))
        try:
            engine.generate(args.video, reference_audio=args.reference, steps=args.steps)
            raise StageCheckError("the recipe's 16-kHz envelope predictor was applied to the 44.1-kHz silent video")
        except ValueError as err:  # refused before any extraction
            need("16000-Hz audio" in str(err) and "--data.envelope_predictor" in str(err), f"refusal reads: {err}")
        engine.data["envelope_predictor"] = args.envelope_predictor
        result = engine.generate(args.video, reference_audio=args.reference, steps=args.steps)
        duration, _ = video_duration(args.video)
        shape, rate = result.audio.shape, result.sample_rate
        need(rate == 44100 and shape[0] == 2, f"demo: audio {shape} at {rate} Hz")
        need(abs(shape[1] / rate - duration) <= 0.05, f"demo: {shape[1]} samples for {duration} s of video")
        written = wav(result.wav, duration)
        need(result.mp4 is not None and result.mp4.is_file(), "demo: no video written")
    except StageCheckError as err:
        print(f"check failed: {err}", flush=True)
        sys.exit(1)
    print(f"demo: {exact}; 16-kHz predictor refused; {written} ({args.steps} sampler steps)", flush=True)


if __name__ == "__main__":
    main()
