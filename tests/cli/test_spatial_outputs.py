"""``predict --data.output_format=binaural|foa``: the generated stereo rendered for headphones (a wav and the video
with it) or as first-order ambisonics (an ambiX wav and the video with its four channels, tagged by an SA3D box)."""

from __future__ import annotations

import av
import numpy as np
import pytest
import soundfile
from helpers import silent_mp4

from stereosync.cli import cli_main
from stereosync.data.synthetic import generate_scene
from stereosync.spatial.sa3d import FOA_AMBIX, read_sa3d


@pytest.fixture(scope="module")
def voiced(tiny_run, tmp_path_factory):
    """``fmt → folder of its outputs``, one predict per format on the same silent video and seed."""
    from stereosync.demo.examples import example_sounds

    _, common, ckpt = tiny_run
    root = tmp_path_factory.mktemp("formats")
    video = silent_mp4(generate_scene(seed=3131, duration=2.5, sample_rate=16000), root / "in" / "walk.mp4")
    folders = {}
    for fmt in ("stereo", "binaural", "foa"):
        out = root / fmt
        cli_main(
            ["predict", *common, f"--ckpt_path={ckpt}", "--data.predict_models={preset: tiny}"]
            + [f"--data.predict_videos={video}", f"--data.clap_reference={example_sounds()['gravel']}"]
            + [f"--data.output_format={fmt}", f"--trainer.default_root_dir={out}"]
        )
        folders[fmt] = out / "version_0" / "predict"
    return folders


def test_binaural_is_the_stereo_rendered_through_hrtfs_with_its_video(voiced):
    stereo, _ = soundfile.read(str(voiced["stereo"] / "walk.wav"), dtype="float32")
    binaural, rate = soundfile.read(str(voiced["binaural"] / "walk.wav"), dtype="float32")
    assert rate == 44100 and binaural.shape == stereo.shape
    assert not np.allclose(binaural, stereo, atol=1e-3)
    assert (voiced["binaural"] / "walk.mp4").is_file()


def test_foa_is_an_ambix_wav_whose_omni_channel_follows_the_stereo_mid(voiced):
    stereo, _ = soundfile.read(str(voiced["stereo"] / "walk.wav"), dtype="float32")
    with soundfile.SoundFile(str(voiced["foa"] / "walk.wav")) as f:
        assert f.channels == 4 and f.samplerate == 44100 and "ACN" in f.comment
        foa = f.read(dtype="float32")
    mid = stereo.mean(axis=1)
    assert foa.shape[0] == stereo.shape[0]
    assert np.corrcoef(np.abs(foa[:, 0]), np.abs(mid))[0, 1] > 0.8  # W carries the generated sound's timing
    assert not list(voiced["foa"].glob("*.foa-part.wav"))


def test_foa_also_gives_the_video_with_its_track_tagged_first_order_ambix(voiced):
    video, source = voiced["foa"] / "walk.mp4", voiced["stereo"] / "walk.mp4"
    assert read_sa3d(video) == [FOA_AMBIX]  # ambisonic order 1, ACN, SN3D, channels W Y Z X
    assert read_sa3d(source) == [None]  # the stereo output carries no tag
    with av.open(str(video)) as c, av.open(str(source)) as s:
        assert c.streams.audio[0].channels == 4 and c.streams.audio[0].rate == 44100
        assert c.streams.video[0].frames == s.streams.video[0].frames > 0
        audio = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)  # AAC: planar (4, n)
    wav, _ = soundfile.read(str(voiced["foa"] / "walk.wav"), dtype="float32")
    n = min(audio.shape[1], len(wav))
    assert n >= 0.9 * len(wav)
    # AAC is lossy and may shift by a few ms: each channel keeps its level (channel order and gains intact)
    level_video, level_wav = np.sqrt(np.mean(audio[:, :n] ** 2, axis=1)), np.sqrt(np.mean(wav[:n] ** 2, axis=0))
    np.testing.assert_allclose(level_video, level_wav, rtol=0.1, atol=1e-4)
