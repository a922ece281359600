"""Make docs/studio.png, README's picture of the studio: brushwork paints Tübingen as The Starry
Night in the page (preset "preview", 256 px) and headless Chromium takes the screenshot.

    python docs/screenshot.py [--out docs/studio.png] [--device cpu]
"""

import argparse
import sys
import tempfile
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from brushwork.data import STARRY_NIGHT, TUBINGEN  # noqa: E402

from browser import chromium, studio_server  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "studio.png"))
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    with (
        tempfile.TemporaryDirectory() as downloads,
        studio_server(device=args.device) as url,
        chromium(downloads, 1280, 1180) as driver,
    ):
        wait = WebDriverWait(driver, 3600, poll_frequency=0.5)
        driver.get(url)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        driver.find_element(By.ID, "content-file").send_keys(str(TUBINGEN))
        driver.find_element(By.ID, "style-file").send_keys(str(STARRY_NIGHT))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".thumb img")) == 2)
        Select(driver.find_element(By.ID, "preset")).select_by_value("preview")
        driver.find_element(By.ID, "paint").click()
        wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "done")
        wait.until(
            lambda d: (
                d.find_elements(By.CSS_SELECTOR, "#gallery .card img")
                and d.execute_script("return [...document.images].every(i => i.complete)")
            )
        )
        driver.save_screenshot(args.out)
        print(args.out, driver.find_element(By.ID, "status").text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
