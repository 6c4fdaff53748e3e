"""``python train.py predict`` over folders of mixed codecs: every video gets an output, and a video that fails
(unreadable, unmuxable) is listed in failures.jsonl while the others are written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from media_clips import EIGHT, FORMATS, decode_all, truncated_copy, write_clip

from stereosync.cli import cli_main
from stereosync.media import video_duration

CONTAINER = {"prores": ".mov", "dnxhd": ".mov", "ffv1": ".mkv"}  # the rest: .mp4 (docs/outputs.md)


def predict(tiny_run, models_json, reference_wav, videos: Path, out: Path, *extra: str):
    """The CLI's predict over ``videos`` into ``out/version_0``; returns the prediction writer."""
    from callbacks.prediction_writer import PredictionWriter

    _, common, ckpt = tiny_run
    cli = cli_main(
        [
            "predict",
            *common,
            f"--ckpt_path={ckpt}",
            f"--data.predict_models={models_json}",
            f"--data.predict_videos={videos}",
            f"--data.clap_reference={reference_wav}",
            f"--trainer.default_root_dir={out}",
            "--trainer.logger.init_args.version=0",
            *extra,
        ]
    )
    return next(c for c in cli.trainer.callbacks if isinstance(c, PredictionWriter))


def test_a_folder_of_eight_codecs_gets_eight_whole_stereo_outputs(tiny_run, models_json, reference_wav, tmp_path):
    videos = tmp_path / "videos"
    inputs = {name: write_clip(FORMATS[name], videos) for name in EIGHT}
    writer = predict(tiny_run, models_json, reference_wav, videos, tmp_path / "run")
    folder = tmp_path / "run" / "version_0" / "predict"
    assert writer.summary == {"done": 8, "failed": 0, "seconds": 16.0, "folder": str(folder), "failures": None}
    assert not (folder / "failures.jsonl").exists()
    for name, video in inputs.items():
        out = folder / f"{name}{CONTAINER.get(name, '.mp4')}"
        info = decode_all(out)
        duration, fps = video_duration(video)
        assert info["channels"] == 2 and info["rate"] == 44100, name
        assert abs(video_duration(out)[0] - duration) <= 1 / fps, name
        assert (folder / f"{name}.wav").is_file()


def test_failed_videos_are_listed_and_every_other_output_is_written(tiny_run, models_json, reference_wav, tmp_path):
    videos = tmp_path / "videos"
    write_clip(FORMATS["h264_10bit"], videos)
    write_clip(FORMATS["msmpeg4"], videos)
    truncated_copy(write_clip(FORMATS["h264_422_10bit"], tmp_path), videos / "cut.mp4")
    (videos / "h264_10bit.mp4").rename(videos / "taken.mp4")
    write_clip(FORMATS["h264_10bit"], videos)
    folder = tmp_path / "run" / "version_0" / "predict"
    (folder / "taken.mp4").mkdir(parents=True)  # the output path is a folder: its mux must fail
    writer = predict(tiny_run, models_json, reference_wav, videos, tmp_path / "run")
    failures = [json.loads(line) for line in (folder / "failures.jsonl").read_text().splitlines()]
    stages = sorted((Path(f["file"]).name, f["stage"]) for f in failures)
    assert stages == [("cut.mp4", "extract"), ("taken.mp4", "mux")]
    assert all(": " in f["error"] for f in failures)
    assert writer.summary["done"] == 2 and writer.summary["failed"] == 2
    assert writer.summary["failures"] == str(folder / "failures.jsonl")
    for name in ("h264_10bit.mp4", "msmpeg4.mp4"):
        assert decode_all(folder / name)["channels"] == 2
    assert (folder / "taken.wav").is_file()  # the generated audio survives its failed mux
    assert not (folder / "cut.wav").exists()


def test_the_command_exits_with_status_1_when_a_video_failed_and_0_when_none_did(
    tiny_run, models_json, reference_wav, tmp_path
):
    from stereosync.cli import main

    videos = tmp_path / "videos"
    write_clip(FORMATS["h264_10bit"], videos)
    _, common, ckpt = tiny_run
    args = ["predict", *common, f"--ckpt_path={ckpt}", f"--data.predict_models={models_json}"]
    args += [f"--data.predict_videos={videos}", f"--data.clap_reference={reference_wav}"]
    main([*args, f"--trainer.default_root_dir={tmp_path / 'good'}"])  # returns: exit status 0
    truncated_copy(write_clip(FORMATS["msmpeg4"], tmp_path), videos / "cut.avi")
    with pytest.raises(SystemExit) as done:
        main([*args, f"--trainer.default_root_dir={tmp_path / 'mixed'}"])
    assert done.value.code == 1
    assert (tmp_path / "mixed" / "version_0" / "predict" / "h264_10bit.wav").is_file()
