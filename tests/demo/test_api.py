"""``/generate`` through ``gradio_client``, as a script calls it: a silent mp4 and a wav in, stereo mp4 out; the
pipeline's errors arrive as messages."""

from __future__ import annotations

import numpy as np
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


def test_generate_gives_binaural_video_and_an_ambix_file_for_the_chosen_format(demo_url, silent_video, stereo_seconds):
    import soundfile
    from gradio_client import Client, handle_file

    from stereosync.demo.examples import example_sounds
    from stereosync.spatial.sa3d import FOA_AMBIX, read_sa3d

    client = Client(demo_url, verbose=False)
    args = (handle_file(str(silent_video)), handle_file(str(example_sounds()["wood"])), "none", 3, 4.0, 4)
    stereo = client.predict(*args, api_name="/generate")
    binaural = client.predict(*args, "binaural", api_name="/generate")
    assert stereo_seconds(binaural[0])[0] == 2
    a, _ = soundfile.read(str(stereo[1]), dtype="float32")
    b, _ = soundfile.read(str(binaural[1]), dtype="float32")
    assert a.shape == b.shape and not np.allclose(a, b, atol=1e-3)  # rendered through the HRTFs
    video, foa_wav, pan, _ = client.predict(*args, "foa", api_name="/generate")
    info = soundfile.info(str(foa_wav))
    assert info.channels == 4 and pan is not None
    assert "ambiX" in soundfile.SoundFile(str(foa_wav)).comment  # tagged ACN/SN3D
    assert stereo_seconds(video)[0] == 4 and read_sa3d(video) == [FOA_AMBIX]  # the video for 360° players


def test_generate_takes_the_vision_preset(demo_url, silent_video):
    """The people preset finds no pedestrian in a synthetic scene, the tiny one finds its character: the pan figure
    (the API's third output) differs, and an unknown preset is a message naming it."""
    from gradio_client import Client, handle_file

    client = Client(demo_url, verbose=False)
    args = (handle_file(str(silent_video)), None, "wood", 3, 4.0, 4, "stereo")
    tiny = client.predict(*args, "tiny", api_name="/generate")
    people = client.predict(*args, "people", api_name="/generate")
    assert tiny[2] is not None and people[2] is not None and tiny[2] != people[2]
    with pytest.raises(Exception, match="nobody"):
        client.predict(*args, "nobody", api_name="/generate")
