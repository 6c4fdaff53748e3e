"""The demo page in a real browser (headless Chromium driven by selenium; nothing is downloaded at run time):
upload a silent synthetic video and a reference sound, generate, and check the page's output video."""

from __future__ import annotations

import os
import shutil
import urllib.request

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _browser():
    if not (CHROMIUM and DRIVER):
        reason = "headless Chromium is not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}: CI must run the browser test")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def test_the_page_voices_an_uploaded_silent_video(demo_url, silent_video, stereo_seconds, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from stereosync.demo.examples import example_sounds

    driver = _browser()
    try:
        driver.get(demo_url)
        wait = WebDriverWait(driver, 60)
        video_input = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#video_in input[type=file]")))
        video_input.send_keys(str(silent_video))
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#video_in video")))
        ref_input = driver.find_element(By.CSS_SELECTOR, "#ref_in input[type=file]")
        ref_input.send_keys(str(example_sounds()["metal"]))
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#ref_in audio, #ref_in .waveform-container")))
        driver.find_element(By.CSS_SELECTOR, "#generate").click()
        video = WebDriverWait(driver, 300).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, "#video_out video[src]"))
        )
        src = video.get_attribute("src")
        playable = "return arguments[0].readyState >= 1 ? arguments[0].duration : null"
        duration = WebDriverWait(driver, 30).until(lambda d: d.execute_script(playable, video))
        assert abs(duration - 3.0) < 0.1  # Chromium decoded the mp4's header: it plays in the page
        assert not driver.find_elements(By.CSS_SELECTOR, ".toast-body.error"), "the page showed an error"
    finally:
        driver.quit()
    out = tmp_path / "page.mp4"
    with urllib.request.urlopen(src, timeout=30) as response:
        out.write_bytes(response.read())
    assert out.read_bytes()[4:8] == b"ftyp"  # an mp4 (ISO BMFF) file
    channels, seconds = stereo_seconds(out)
    assert channels == 2 and abs(seconds - 3.0) <= 1 / 30 + 1024 / 44100
