"""The studio driven in a real headless Chromium: upload, choose a style loss, paint with a live
preview, cancel, download, re-open from the gallery, and the page at phone width."""

import asyncio
import hashlib
import json
import threading

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from brushwork.config import STYLE_WEIGHTS
from brushwork.studio.jobs import Job

from browser import chromium, studio_server
from studio_helpers import Gate, paced_paintings

PIXELS = """const img = document.getElementById('preview');
if (!img.complete || !img.naturalWidth) return null;
const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
c.getContext('2d').drawImage(img, 0, 0); return c.toDataURL('image/png');"""


def set_slider(driver, slider, value):
    driver.execute_script(
        "const s = document.getElementById(arguments[0]); s.value = arguments[1];s.dispatchEvent(new Event('input'));",
        slider,
        value,
    )


def status(driver):
    el = driver.find_element(By.ID, "status")
    return el.get_attribute("data-state"), el.text


def preview_now(driver):
    """(step, pixels) of the picture the page shows, read when both agree, else None."""
    step = driver.find_element(By.ID, "preview").get_attribute("data-step")
    data = driver.execute_script(PIXELS)
    same = step == driver.find_element(By.ID, "preview").get_attribute("data-step")
    return (step, hashlib.sha256(data.encode()).hexdigest()) if step and data and same else None


def asked_previews(monkeypatch) -> threading.Semaphore:
    """Released once for each picture the page asks for, once the request waits for the next step:
    the test then lets exactly that step through and sees its picture, whatever the machine's speed."""
    real, asked = Job.preview, threading.Semaphore(0)

    async def preview(self, timeout=10.0):
        request = asyncio.create_task(real(self, timeout))
        await asyncio.sleep(0)  # the request's first part runs: it is registered, or answered at once
        if not request.done():
            asked.release()
        await request

    monkeypatch.setattr(Job, "preview", preview)
    return asked


def test_studio_in_a_browser(tubingen, starry, tmp_path, monkeypatch):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    gate = Gate()
    paced_paintings(monkeypatch, gate)
    asked = asked_previews(monkeypatch)
    with studio_server(device="cpu") as url, chromium(str(downloads)) as driver:
        wait = WebDriverWait(driver, 120, poll_frequency=0.05)
        driver.get(url)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        driver.find_element(By.ID, "content-file").send_keys(str(tubingen))
        driver.find_element(By.ID, "style-file").send_keys(str(starry))
        wait.until(
            lambda d: (
                len(d.find_elements(By.CSS_SELECTOR, "#content-thumbs .thumb img")) == 1
                and len(d.find_elements(By.CSS_SELECTOR, "#style-thumbs .thumb img")) == 1
            )
        )
        thumbs = driver.find_elements(By.CSS_SELECTOR, ".thumb img")
        wait.until(lambda d: all(d.execute_script("return arguments[0].naturalWidth", t) > 0 for t in thumbs))
        assert driver.find_element(By.CSS_SELECTOR, "#style-thumbs .name").text == "starry_night.jpg"

        # First job: a small picture in a few dozen steps with neural neighbours, whose choice sets the
        # style strength to that loss's own; the preview must change while it runs.
        set_slider(driver, "style-weight", 2)
        assert driver.find_element(By.ID, "style-weight-out").text == "100"
        Select(driver.find_element(By.ID, "style-loss")).select_by_value("nn")
        assert driver.find_element(By.ID, "style-weight-out").text == f"{STYLE_WEIGHTS['nn']:g}"
        set_slider(driver, "size", 64)
        set_slider(driver, "iterations", 40)
        assert driver.find_element(By.ID, "size-out").text == "64"
        driver.find_element(By.ID, "paint").click()
        seen = {}
        gate.allow(1)
        while len(set(seen.values())) < 2:  # the page asks for a picture, one step paints it, it is shown
            assert asked.acquire(timeout=120), "the page stopped asking for pictures"
            gate.allow(1)
            step, digest = wait.until(
                lambda d: status(d)[0] == "running" and (p := preview_now(d)) and p[0] not in seen and p
            )
            seen[step] = digest
        gate.open()
        wait.until(lambda d: status(d)[0] == "done")
        assert "done: 40 steps" in status(driver)[1]
        assert float(driver.find_element(By.ID, "bar").get_attribute("value")) == 40

        # Download the finished picture: a PNG that decodes and carries its parameters.
        link = driver.find_element(By.ID, "download")
        wait.until(lambda d: link.is_displayed())
        link.click()
        wait.until(lambda d: [p for p in downloads.iterdir() if p.suffix == ".png"])
        png = next(p for p in downloads.iterdir() if p.suffix == ".png")
        with Image.open(png) as im:
            im.load()
            assert im.format == "PNG" and im.size == (64, 48)
            params = json.loads(im.text["brushwork"])
        assert params["config"]["size"] == 64 and params["config"]["iterations"] == 40 and params["step"] == 40
        assert params["config"]["style_loss"] == "nn" and params["config"]["style_weight"] == STYLE_WEIGHTS["nn"]
        assert params["content"] == "tubingen.jpg" and params["styles"] == ["starry_night.jpg"]

        # Second job: cancelled while it runs; its best picture so far is kept.
        gate.close()
        set_slider(driver, "iterations", 1000)
        Select(driver.find_element(By.ID, "style-loss")).select_by_value("swd")
        driver.find_element(By.ID, "paint").click()
        gate.allow(1)
        wait.until(lambda d: status(d)[0] == "running" and d.find_element(By.ID, "bar").get_attribute("value") != "0")
        driver.find_element(By.ID, "cancel").click()
        wait.until(lambda d: status(d)[0] == "cancelled")
        assert "cancelled at step 1" in status(driver)[1]
        assert driver.find_element(By.ID, "cancel").get_attribute("disabled") is not None

        # The gallery holds both; re-opening the first brings back its settings.
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#gallery .card")) == 2)
        set_slider(driver, "iterations", 7)
        driver.find_elements(By.CSS_SELECTOR, "#gallery .card button.open")[1].click()
        assert driver.find_element(By.ID, "iterations-out").text == "40"
        assert driver.find_element(By.ID, "size-out").text == "64"
        assert Select(driver.find_element(By.ID, "style-loss")).first_selected_option.get_attribute("value") == "nn"
        assert driver.find_element(By.CSS_SELECTOR, "#content-thumbs .name").text == "tubingen.jpg"

        # Phone width: one column, nothing wider than the screen.
        driver.set_window_size(390, 844)
        wait.until(lambda d: d.execute_script("return window.innerWidth") <= 390)  # the page has been laid out anew
        inner, scroll = driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
        assert scroll <= inner, (scroll, inner)
        paint_x = driver.find_element(By.ID, "paint").rect["x"]
        assert 0 <= paint_x < inner
        message = driver.find_element(By.ID, "message")
        assert message.text.startswith("Settings of that painting loaded") and "note" in message.get_attribute("class")
