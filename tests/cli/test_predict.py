"""``python train.py predict`` on any video: silent ones, folders, whole lengths, runs that follow a failed one;
``test`` with the predicted envelope; version-1 shards."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import silent_mp4

from stereosync.cli import cli_main
from stereosync.data.synthetic import generate_scene, write_mp4


def stereo_audio(mp4: Path) -> tuple[np.ndarray, int]:
    with av.open(str(mp4)) as c:
        a = c.streams.audio[0]
        assert a.codec_context.channels == 2
        return np.concatenate([f.to_ndarray() for f in c.decode(a)], axis=1), a.rate


def predict(tiny_run, models_json, out: Path, *extra: str) -> Path:
    _, common, ckpt = tiny_run
    cli_main(
        [
            "predict",
            *common,
            f"--ckpt_path={ckpt}",
            f"--data.predict_models={models_json}",
            f"--trainer.default_root_dir={out}",
            *extra,
        ]
    )
    return out


def test_a_folder_of_silent_and_voiced_videos_gets_whole_length_stereo_at_their_relative_paths(
    tiny_run, models_json, reference_wav, tmp_path
):
    videos = tmp_path / "videos"
    silent_mp4(generate_scene(seed=501, duration=7.0, sample_rate=16000), videos / "a" / "clip.mp4")
    write_mp4(generate_scene(seed=502, duration=3.0, sample_rate=16000), videos / "b" / "clip.mp4")
    out = predict(
        tiny_run,
        models_json,
        tmp_path / "run",
        f"--data.predict_videos={videos}",
        f"--data.clap_reference={reference_wav}",
    )
    folder = out / "version_0" / "predict"
    for name, seconds in (("a/clip", 7.0), ("b/clip", 3.0)):
        audio, rate = stereo_audio(folder / f"{name}.mp4")
        assert rate == 44100
        assert abs(audio.shape[1] / rate - seconds) <= 1 / 30 + 2048 / 44100, name  # a frame, plus AAC priming
        assert (folder / f"{name}.wav").is_file()
    audio, rate = stereo_audio(folder / "a" / "clip.mp4")
    last = audio[:, -rate:]
    assert np.sqrt((last**2).mean()) > 1e-3  # the last second is generated too, not silence
    assert list((out / "version_0" / "predict" / "features").glob("shard-*.tar"))  # extracted inside the run


def test_a_silent_video_without_a_clap_reference_is_refused_before_extraction(tiny_run, models_json, tmp_path):
    video = silent_mp4(generate_scene(seed=503, duration=3.0, sample_rate=16000), tmp_path / "quiet.mp4")
    with pytest.raises(ValueError, match=r"quiet\.mp4.*--data\.clap_reference"):
        predict(tiny_run, models_json, tmp_path / "run", f"--data.predict_videos={video}")
    assert not list((tmp_path / "run").rglob("shard-*.tar"))


def test_a_run_after_a_failed_one_uses_its_own_inputs(tiny_run, models_json, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    with pytest.raises(ValueError, match=r"broken\.mp4"):
        predict(tiny_run, models_json, tmp_path / "run", f"--data.predict_videos={bad}")
    good = write_mp4(generate_scene(seed=504, duration=2.5, sample_rate=16000), tmp_path / "good.mp4")
    out = predict(tiny_run, models_json, tmp_path / "run", f"--data.predict_videos={good}")
    produced = sorted(p.relative_to(out) for p in out.rglob("*.mp4"))
    assert produced == [Path("version_1/predict/good.mp4")]
    audio, rate = stereo_audio(out / produced[0])
    assert abs(audio.shape[1] / rate - 2.5) <= 1 / 30 + 2048 / 44100


def test_test_with_the_predicted_envelope_and_version_1_shards(tiny_run, synthetic_root, tmp_path):
    import webdataset as wds

    run, common, ckpt = tiny_run
    out = tmp_path / "test"
    args = ["test", *common, f"--ckpt_path={ckpt}", "--model.fad=false", "--data.envelope_source=predicted"]
    cli_main([*args, f"--trainer.default_root_dir={out}"])
    report = json.loads(next(out.rglob("metrics.json")).read_text())
    assert np.isfinite(report["metrics"]["test/e_l1"])

    v1 = tmp_path / "v1"
    v1.mkdir()
    for tar in sorted((synthetic_root / "test" / "shards").glob("*.tar")):
        with wds.TarWriter(str(v1 / tar.name)) as sink:
            for raw in wds.WebDataset(str(tar), shardshuffle=False):
                meta = json.loads(raw["json"]) | {"schema_version": 1}
                sink.write(
                    {k: v for k, v in raw.items() if k not in ("motion.npy", "__url__", "__local_path__")}
                    | {"json": json.dumps(meta).encode()}
                )
    plain = [*args[:-1], f"--data.test_shards={v1}"]
    cli_main([*plain, f"--trainer.default_root_dir={out / 'v1'}"])  # the paper's envelope: v1 is fine
    with pytest.raises(ValueError, match=r"no 'motion' member \(schema version 1\)"):
        cli_main([*plain, "--data.envelope_source=predicted", f"--trainer.default_root_dir={out / 'v1p'}"])


def test_the_command_line_shows_the_message_not_a_traceback(tiny_run, models_json, tmp_path):
    import os
    import subprocess
    import sys

    video = silent_mp4(generate_scene(seed=505, duration=2.0, sample_rate=16000), tmp_path / "mute.mp4")
    _, common, ckpt = tiny_run
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, str(root / "train.py"), "predict", *common, f"--ckpt_path={ckpt}"]
    cmd += [f"--data.predict_models={models_json}", f"--data.predict_videos={video}"]
    cmd += [f"--trainer.default_root_dir={tmp_path}"]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("STEREOSYNC_TRACEBACK", None)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 2
    assert "mute.mp4" in done.stderr and "--data.clap_reference" in done.stderr
    assert "Traceback" not in done.stderr
