"""The studio under load (issue 14): 20 clients on 127.0.0.1 upload and submit at once for 30 s
with hostile requests mixed in, against ``brushwork serve`` with its default limits. Every answer is
2xx or 4xx, never 5xx; the gallery keeps answering 200 with JSON a browser can parse; the server's
peak memory stays under PEAK_BOUND (README, "Web studio"). Bounded in time and in count; it asserts
on answers and memory, never on how fast they came."""

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import numpy as np
import pytest
import tifffile
from PIL import Image

from studio_helpers import png, strict

CLIENTS, SECONDS, MAX_REQUESTS = 20, 30.0, 300  # MAX_REQUESTS per client
PEAK_BOUND = 3.5 * 2**30  # bytes of resident memory at the server's peak (measured 2.3 to 2.8 GiB: see README)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, tubingen, starry):
    """Bytes: two ordinary pictures, a 6000×6600 PNG of 131 KB, a 16-bit TIFF of as many pixels."""
    folder = tmp_path_factory.mktemp("load")
    Image.new("RGB", (6000, 6600), (90, 120, 200)).save(folder / "huge.png")
    tifffile.imwrite(
        folder / "huge.tif", np.full((6600, 6000, 3), 30000, np.uint16), photometric="rgb", compression="zlib"
    )
    return {
        "photo": tubingen.read_bytes(),
        "painting": starry.read_bytes(),
        "small": png(),
        "huge": (folder / "huge.png").read_bytes(),
        "tiff16": (folder / "huge.tif").read_bytes(),
    }


class Client:
    """One client: a fixed round of requests, legitimate and hostile, repeated until time is up."""

    def __init__(self, port: int, number: int, pictures: dict, answers: Counter, failures: list):
        self.port, self.number, self.pics, self.answers, self.failures = port, number, pictures, answers, failures
        self.cookie, self.uploads, self.jobs = None, [], []
        self.host = f"127.0.0.1:{port}"

    def request(self, method, path, body=None, headers=None, declared=None, stream=False):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            heads = {"Host": self.host, **({"Cookie": self.cookie} if self.cookie else {}), **(headers or {})}
            if declared is not None:  # announces a body it never sends
                conn.putrequest(method, path, skip_host=True)
                for k, v in {**heads, "Content-Length": str(declared)}.items():
                    conn.putheader(k, v)
                conn.endheaders()
            else:
                conn.request(method, path, body=body, headers=heads)
            r = conn.getresponse()
            data = r.readline() if stream and r.status == 200 else r.read()
            if r.getheader("set-cookie"):  # the page's cookie: this client is a browser from now on
                self.cookie = r.getheader("set-cookie").split(";")[0]
            self.answers[r.status] += 1
            if r.status >= 500:
                self.failures.append(f"{method} {path}: {r.status} {data[:200]!r}")
            return r, data
        except OSError as e:
            self.failures.append(f"{method} {path}: {type(e).__name__} {e}")
            return None, b""
        finally:
            conn.close()

    def json(self, method, path, body=None, **kw):
        r, data = self.request(method, path, body, **kw)
        return (r.status, strict(data.decode())) if r is not None and data[:1] in (b"{", b"[") else (None, None)

    def job(self, options, styles=None, raw=None):
        content = self.uploads[-1] if self.uploads else "none"
        body = raw or json.dumps({"content": content, "styles": styles or [content], "options": options})
        status, snap = self.json("POST", "/api/jobs", body.encode(), headers={"Content-Type": "application/json"})
        if status == 201:
            self.jobs.append(snap["id"])

    def upload(self, kind):
        status, info = self.json("POST", f"/api/uploads?name={kind}", self.pics[kind])
        if status == 201:
            self.uploads.append(info["id"])

    def round(self):
        """The requests of one round: what a page does, and what a careless or hostile client tries."""
        job = lambda: self.jobs[-1] if self.jobs else "none"  # noqa: E731
        return [
            lambda: self.request("GET", "/") if self.number % 2 else None,
            lambda: self.upload("photo"),
            lambda: self.upload("painting"),
            lambda: self.job({"size": 32 + 8 * (self.number % 3), "iterations": 3}),
            lambda: self.json("GET", "/api/jobs"),
            lambda: self.request("GET", f"/api/jobs/{job()}/events", stream=True),
            lambda: self.request("GET", f"/api/jobs/{job()}/preview"),
            lambda: self.upload("huge" if self.number % 2 else "tiff16"),
            lambda: self.job({"size": 64, "iterations": 2, "style_scale": 16}, styles=self.uploads[-1:] * 4),
            lambda: self.job(None, raw='{"content": "a", "styles": ["b"], "options": {"seed": NaN}}'),
            lambda: self.job(None, raw="[" * 30_000 + "]" * 30_000),
            lambda: self.request(
                "POST", "/api/jobs", declared=200 * 2**20, headers={"Content-Type": "application/json"}
            ),
            lambda: self.request("POST", "/api/uploads", declared=26 * 2**20),
            lambda: self.job({}, styles=self.uploads[-1:] * 300),
            lambda: self.job({"style_scale": 1e308}),
            lambda: self.job({"size": 64, "scales": list(range(20, 63))}),
            lambda: self.job({"size": 32, "iterations": 5, "learning_rate": 1e308}),
            lambda: self.job({"normalize_gradients": "false", "seed": "x"}),
            lambda: self.json("POST", "/api/jobs", b'{"options": []}'),
            lambda: self.request("POST", "/api/uploads", self.pics["small"], headers={"Origin": "http://localhost"}),
            lambda: self.request("GET", "/api/jobs", headers={"Host": "evil.example"}),
            lambda: self.request("POST", "/api/uploads?name=x.png", b"\x89PNG\r\n\x1a\n" + os.urandom(2000)),
            lambda: self.request("HEAD", f"/api/jobs/{job()}"),
            lambda: self.request("GET", "/openapi.json"),
            lambda: self.request("DELETE", f"/api/jobs/{job()}"),
            lambda: self.json("GET", "/api/presets"),
        ]

    def run(self, until: float) -> None:
        actions = self.round()
        for n in range(MAX_REQUESTS):
            if time.monotonic() >= until:
                return
            actions[(self.number + n) % len(actions)]()


def gallery(port: int, until: float, seen: list, failures: list) -> None:
    """Asks for the gallery all along, as a page that is open would."""
    while time.monotonic() < until and len(seen) < 2000:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request("GET", "/api/jobs", headers={"Host": f"127.0.0.1:{port}"})
            r = conn.getresponse()
            body = r.read()
            seen.append(r.status)
            strict(body.decode())
        except (OSError, ValueError) as e:
            failures.append(f"gallery: {type(e).__name__} {e}")
        finally:
            conn.close()
        time.sleep(0.1)


@pytest.mark.slow  # a minute and a half of both cores: `pytest -m slow tests/test_studio_load.py`
def test_twenty_clients_with_hostile_requests_for_thirty_seconds(tmp_path, pictures):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "server.log", "w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "brushwork", "serve", "--port", str(port), "--device", "cpu"], stderr=log, cwd=tmp_path
    )
    watchdog = threading.Timer(SECONDS + 240, server.kill)  # a hung server fails the test, never hangs it
    watchdog.start()
    try:
        for _ in range(600):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=5).request("GET", "/")
                break
            except OSError:
                time.sleep(0.1)
        answers, failures, seen = Counter(), [], []
        until = time.monotonic() + SECONDS
        clients = [Client(port, i, pictures, answers, failures) for i in range(CLIENTS)]
        threads = [threading.Thread(target=c.run, args=(until,)) for c in clients]
        threads.append(threading.Thread(target=gallery, args=(port, until, seen, failures)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        server.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        _, status, usage = os.wait4(server.pid, 0)
        stopping = time.monotonic() - signalled
        server.returncode = os.waitstatus_to_exitcode(status)
    finally:
        watchdog.cancel()
        if server.returncode is None:
            server.kill()
            server.wait()
    log.seek(0)
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    print(
        f"answers {dict(sorted(answers.items()))}; gallery {len(seen)}×; server peak {peak / 2**20:.0f} MiB; "
        f"stopped in {stopping:.1f} s"
    )
    assert failures == [], failures[:10]
    assert set(answers) <= set(range(200, 500)) and answers[201] > 0 and answers[422] > 0
    assert seen and set(seen) == {200}
    assert peak < PEAK_BOUND, f"the server's peak was {peak / 2**20:.0f} MiB"
    assert server.returncode == 143 and "Traceback" not in log.read()
