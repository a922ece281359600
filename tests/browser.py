"""A studio on a free loopback port and headless Debian Chromium driven by Selenium (shared by
the browser test and docs/screenshot.py)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from brushwork import studio
from brushwork.studio import Settings, listen

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)


@contextlib.contextmanager
def studio_server(**settings):
    """Yields the studio's base URL; the server (and its jobs) stop when the block ends."""
    s = Settings(port=_free_port(), **settings)
    server = studio.server(s)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listen(s)]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{s.port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextlib.contextmanager
def chromium(downloads: str, width: int = 1280, height: int = 900):
    """Headless Chromium with a fresh profile, saving downloads to ``downloads``."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            raise RuntimeError(
                f"{path} is missing: install Debian's chromium and chromium-driver (tests/setup-browser.sh does)"
            )
    profile = tempfile.mkdtemp(prefix="brushwork-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": downloads, "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
