"""``stereosync-demo``: the Gradio page and its ``/generate`` API endpoint.

    stereosync-demo                                   # tiny recipe + shipped weights, http://127.0.0.1:7860
    stereosync-demo --checkpoint runs/x/last.ckpt --config configs/sao.yaml --host 0.0.0.0 --port 7860

From a script (``gradio_client``)::

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    video, wav, pan, spectrograms = client.predict(
        handle_file("clip.mp4"), handle_file("footsteps.wav"), "none", 0, 4.0, 24, api_name="/generate"
    )
    print(video, wav)  # local paths of the downloaded mp4 and wav
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stereosync import quiet

log = logging.getLogger(__name__)

NO_EXAMPLE = "none"


def reference_for(upload: str | None, example: str | None, examples: dict[str, Path]) -> str | None:
    """The reference sound: an uploaded file wins, else the chosen example sound, else None (the video's own)."""
    if upload:
        return str(upload)
    if example and example != NO_EXAMPLE:
        if example not in examples:
            raise ValueError(f"unknown example sound {example!r}; choose one of {', '.join(examples)}")
        return str(examples[example])
    return None


OUTPUT_FORMATS = ("stereo", "binaural", "foa")
RECIPE_MODELS = "recipe"
"""The vision choice that keeps the engine's models (the recipe's ``data.predict_models`` or ``--predict-models``)."""


def vision_choices() -> list[tuple[str, str]]:
    """(label, value) of the vision-model dropdown: the engine's own models, then each preset that needs no
    download (``real`` needs the downloaded models, so it is offered only through ``--predict-models``)."""
    from stereosync.extract.factory import list_presets

    presets = [(f"{name}: {text}", name) for name, text in list_presets().items() if name != "real"]
    return [("the recipe's models", RECIPE_MODELS), *presets]


def listening_pair(audio):
    """(2, T) for the figures: stereo and binaural as they are; first-order ambisonics (W, Y, Z, X; SN3D) decoded
    to two virtual cardioids facing left and right (``0.5 (W ± Y)``)."""
    if audio.shape[0] == 4:
        w, y = audio[0], audio[1]
        return np.stack([0.5 * (w + y), 0.5 * (w - y)]).astype(audio.dtype)
    return audio


def build_app(engine: Any):
    """The Blocks page around an :class:`stereosync.demo.engine.Engine`."""
    import gradio as gr

    from stereosync import plots
    from stereosync.demo.examples import example_sounds

    examples = example_sounds()
    sampler = engine.base_sampler

    def generate(
        video,
        reference_audio,
        example,
        seed,
        cfg_scale,
        steps,
        output_format="stereo",
        vision=RECIPE_MODELS,
        progress=gr.Progress(),  # noqa: B008
    ):
        if not video:
            raise gr.Error("Upload a video first.")
        try:
            reference = reference_for(reference_audio, example, examples)
            result = engine.generate(
                video,
                reference,
                seed=int(seed),
                cfg_scale=float(cfg_scale),
                steps=int(steps),
                progress=lambda frac, text: progress(frac, desc=text),
                output_format=str(output_format or "stereo"),
                vision_preset=None if vision in (None, "", RECIPE_MODELS) else str(vision),
            )
        except Exception as err:  # noqa: BLE001 - every failure becomes a message in the page; the log has the rest
            log.exception("generation failed")
            raise gr.Error(str(err) or type(err).__name__) from err
        import torch

        audio = torch.from_numpy(listening_pair(result.audio))
        ref = None if result.reference is None else torch.from_numpy(result.reference)
        title = Path(video).name
        pan = plots.pan_figure(audio, result.boxes, result.box_mask, result.sample_rate, ref, f"pan vs box: {title}")
        spec = plots.spectrogram_figure(audio, result.sample_rate, f"generated: {title}")
        return None if result.mp4 is None else str(result.mp4), str(result.wav), pan, spec

    with gr.Blocks(title="StereoSync demo") as app:
        gr.Markdown(
            "# StereoSync\nVideo in, stereo audio out: the sound follows what is on screen. Upload a video and "
            "(for a silent video, required) a reference sound whose timbre the audio takes."
        )
        with gr.Row():
            with gr.Column():
                video_in = gr.Video(label="video", sources=["upload"], elem_id="video_in")
                ref_in = gr.Audio(
                    label="reference sound (timbre)", sources=["upload"], type="filepath", elem_id="ref_in"
                )
                example_in = gr.Dropdown(
                    [NO_EXAMPLE, *examples], value=NO_EXAMPLE, label="or an example sound", elem_id="example_in"
                )
                with gr.Row():
                    seed_in = gr.Number(value=0, precision=0, label="seed")
                    cfg_in = gr.Slider(1.0, 8.0, value=float(sampler.cfg_scale), step=0.5, label="CFG scale")
                    steps_in = gr.Slider(4, 200, value=int(sampler.steps), step=1, label="sampling steps")
                vision_in = gr.Dropdown(
                    vision_choices(), value=RECIPE_MODELS, label="vision models (who is on screen)", elem_id="vision_in"
                )
                format_in = gr.Radio(
                    list(OUTPUT_FORMATS),
                    value="stereo",
                    label="output: stereo, binaural (headphones) or first-order ambisonics (ambiX, for 360° video)",
                    elem_id="format_in",
                )
                button = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                video_out = gr.Video(
                    label="video with the generated audio (ambisonics: 4 channels tagged for 360° players)",
                    elem_id="video_out",
                )
                wav_out = gr.File(label="generated audio (wav; ambiX for first-order ambisonics)", elem_id="wav_out")
                pan_out = gr.Plot(label="pan vs box centres")
                spec_out = gr.Plot(label="L/R spectrograms")
        button.click(
            generate,
            inputs=[video_in, ref_in, example_in, seed_in, cfg_in, steps_in, format_in, vision_in],
            outputs=[video_out, wav_out, pan_out, spec_out],
            api_name="generate",
        )
    return app


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="stereosync-demo", description="StereoSync demo page (Gradio)")
    p.add_argument("--checkpoint", default=None, help="Lightning .ckpt or exported .safetensors (default: shipped)")
    p.add_argument("--config", default=None, help="recipe of the checkpoint (default: configs/tiny.yaml)")
    p.add_argument(
        "--predict-models",
        default=None,
        help="feature-extraction models as JSON (ModelConfig fields; default: the recipe's data.predict_models)",
    )
    p.add_argument(
        "--envelope-predictor",
        default=None,
        help="envelope-predictor file for silent videos (default: the recipe's data.envelope_predictor)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--work-dir", default=None, help="folder for features and outputs (default: a temporary one)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: build the engine, serve the page until interrupted."""
    quiet.install()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    logging.getLogger("stereosync").addHandler(handler)  # the demo's own messages; Lightning logs on its own
    logging.getLogger("stereosync").setLevel(logging.INFO)
    args = parse_args(argv)
    from stereosync.demo.engine import Engine

    try:
        models = json.loads(args.predict_models) if args.predict_models else None
        engine = Engine(args.config, args.checkpoint, models, args.work_dir, args.envelope_predictor)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        raise SystemExit(f"stereosync-demo: {err}") from None
    app = build_app(engine)
    app.queue().launch(server_name=args.host, server_port=args.port, ssr_mode=False, show_error=True)


if __name__ == "__main__":
    main()
