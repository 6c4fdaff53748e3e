"""``/generate`` through ``gradio_client``, as a script calls it: a silent mp4 and a wav in, stereo mp4 out; the
pipeline's errors arrive as messages."""

from __future__ import annotations

import pytest


def test_generate_voices_a_silent_video_with_stereo_audio_of_its_duration(demo_url, silent_video, stereo_seconds):
    from gradio_client import Client, handle_file

    from stereosync.demo.examples import example_sounds

    client = Client(demo_url, verbose=False)
    wav = example_sounds()["wood"]
    video, audio_file, pan, spec = client.predict(
        handle_file(str(silent_video)), handle_file(str(wav)), "none", 3, 4.0, 4, api_name="/generate"
    )
    channels, seconds = stereo_seconds(video)  # gradio_client downloads the outputs: local paths
    assert channels == 2 and abs(seconds - 3.0) <= 1 / 30 + 1024 / 44100
    assert str(audio_file).endswith(".wav") and pan is not None and spec is not None


def test_a_silent_video_without_a_reference_is_a_message_not_a_traceback(demo_url, silent_video):
    from gradio_client import Client, handle_file

    client = Client(demo_url, verbose=False)
    with pytest.raises(Exception, match="no audio track") as err:
        client.predict(handle_file(str(silent_video)), None, "none", 0, 4.0, 4, api_name="/generate")
    assert "Traceback" not in str(err.value)


def test_an_unreadable_file_is_a_message_naming_it(demo_url, tmp_path):
    from gradio_client import Client, handle_file

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    client = Client(demo_url, verbose=False)
    with pytest.raises(Exception, match="broken.mp4"):
        client.predict(handle_file(str(bad)), None, "gravel", 0, 4.0, 4, api_name="/generate")
