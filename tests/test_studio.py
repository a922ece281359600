"""The studio's API: uploads and their limits, jobs, cancelling, events, the gallery, hosts."""

import io
import json
import os
import tempfile
import threading
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from brushwork import images
from brushwork.engine import Painting
from brushwork.studio import Settings, create_app
from brushwork.studio.jobs import TERMINAL

HOST = "http://127.0.0.1:8000"
FAST = {"size": 32, "iterations": 3}
SLOW = {"size": 32, "iterations": 1000}  # runs until cancelled


def client(**settings) -> TestClient:
    return TestClient(create_app(Settings(device="cpu", **settings)), base_url=HOST)


def png(w=40, h=30, color=(200, 40, 40)) -> bytes:
    return images.encode(Image.new("RGB", (w, h), color), "PNG")


@pytest.fixture
def studio():
    with client() as c:
        yield c


def upload(c, data: bytes, name="x.png"):
    return c.post(f"/api/uploads?name={name}", content=data)


def pair(c, tubingen, starry):
    return (upload(c, tubingen.read_bytes(), "t.jpg").json()["id"],
            upload(c, starry.read_bytes(), "s.jpg").json()["id"])


def submit(c, content, style, options=FAST, **extra):
    return c.post("/api/jobs", json={"content": content, "styles": [style], "options": options, **extra})


def wait(c, job_id, states=TERMINAL, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        snap = c.get(f"/api/jobs/{job_id}").json()
        if snap["state"] in states and (states != ("running",) or snap["step"] >= 1):
            return snap
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {snap['state']}")


def test_upload_is_stored_under_a_random_id_with_a_thumbnail(studio, tubingen):
    r = upload(studio, tubingen.read_bytes(), "../../etc/evil name.jpg")
    assert r.status_code == 201
    info = r.json()
    assert info["name"] == "evil name.jpg" and info["format"] == "JPEG" and (info["width"], info["height"]) == (1024, 768)
    assert len(info["id"]) >= 22 and "evil" not in info["id"]
    thumb = Image.open(io.BytesIO(studio.get(info["thumbnail"]).content))
    assert thumb.format == "JPEG" and max(thumb.size) == 192
    assert studio.get("/api/uploads/nope/thumbnail").status_code == 404


def test_format_is_judged_from_the_bytes_not_the_name(studio):
    assert upload(studio, png(), "photo.txt").json()["format"] == "PNG"
    for data, name in [(b"hello, world", "photo.png"), (b"%PDF-1.4\n%...", "a.pdf"), (b"", "empty.png"),
                       (images.encode(Image.new("RGB", (16, 16)), "PNG")[:50] + b"\0" * 10, "cut.png")]:
        r = upload(studio, data, name)
        if data[:4] == b"\x89PNG":  # a PNG header with garbage after it: readable format, broken file
            assert r.status_code == 422 and "cut.png" in r.json()["detail"]
        elif not data:
            assert r.status_code == 422 and "empty" in r.json()["detail"]
        else:
            assert r.status_code == 415, (name, r.text)
            assert name in r.json()["detail"] and "PNG" in r.json()["detail"]
    ico = io.BytesIO()
    Image.new("RGB", (16, 16)).save(ico, format="ICO")
    assert upload(studio, ico.getvalue(), "i.png").status_code == 415


def test_upload_caps_bytes_413_and_pixels_422():
    with client(max_upload_mb=0.01, max_megapixels=0.01) as c:  # 10 KiB, 10 000 px
        noise = images.encode(Image.effect_noise((80, 80), 100).convert("RGB"), "PNG")
        assert len(noise) > 0.01 * 2**20
        r = upload(c, noise)
        assert r.status_code == 413 and "MiB" in r.json()["detail"]
        r = upload(c, png(200, 100))  # small file, 20 000 px
        assert r.status_code == 422 and "200×100 px" in r.json()["detail"]
        assert upload(c, png(100, 100)).status_code == 201
        assert len(c.app.state.uploads) == 1

        def chunks():  # no Content-Length: the cap holds while the body streams in
            for _ in range(20):
                yield b"\0" * 1024

        r = c.post("/api/uploads", content=chunks())
        assert r.status_code == 413


def test_a_job_paints_streams_progress_and_its_png_carries_parameters(studio, tubingen, starry):
    content, style = pair(studio, tubingen, starry)
    r = submit(studio, content, style, {"size": 48, "iterations": 6, "style_weight": 20}, preset="preview")
    assert r.status_code == 201 and r.json()["state"] in ("queued", "running")
    job = r.json()["id"]
    steps, last = [], None
    with studio.stream("GET", f"/api/jobs/{job}/events") as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        for line in s.iter_lines():
            if line.startswith("data: "):
                last = json.loads(line[6:])
                steps.append(last["step"])
    assert last["state"] == "done" and last["step"] == 6 and last["eta"] == 0.0
    assert steps == sorted(steps) and steps[-1] == 6 and len(set(steps) - {0, 6}) >= 2  # a snapshot per change seen
    assert set(last["losses"]) >= {"content", "style", "total"}
    result = studio.get(last["result"])
    assert result.status_code == 200 and "attachment" in result.headers["content-disposition"]
    im = Image.open(io.BytesIO(result.content))
    assert im.format == "PNG" and im.size == (48, 36)
    params = json.loads(im.text["brushwork"])
    assert params["config"]["size"] == 48 and params["config"]["style_weight"] == 20
    assert params["config"]["start_size"] == 256  # from the preset
    assert params["content"] == "t.jpg" and params["styles"] == ["s.jpg"] and params["step"] == 6
    gallery = studio.get("/api/jobs").json()
    assert [g["id"] for g in gallery] == [job] and gallery[0]["settings"]["options"]["size"] == 48
    assert gallery[0]["settings"]["content"] == content and gallery[0]["settings"]["preset"] == "preview"


def test_preview_is_made_only_when_asked(studio, tubingen, starry, monkeypatch):
    calls = []
    real = Painting.current_image
    monkeypatch.setattr(Painting, "current_image", lambda self: calls.append(1) or real(self))
    content, style = pair(studio, tubingen, starry)
    job = submit(studio, content, style, {"size": 32, "iterations": 8}).json()["id"]
    wait(studio, job)
    assert len(calls) == 2  # the last step's event and the finished picture: no preview was asked for
    calls.clear()
    job = submit(studio, content, style, SLOW).json()["id"]
    wait(studio, job, ("running",))
    r = studio.get(f"/api/jobs/{job}/preview")
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (32, 24)
    assert int(r.headers["x-step"]) >= 1 and len(calls) == 1
    studio.delete(f"/api/jobs/{job}")
    wait(studio, job)


def test_cancel_keeps_the_best_picture_and_a_queued_job_ends_without_one(studio, tubingen, starry):
    content, style = pair(studio, tubingen, starry)
    running = submit(studio, content, style, SLOW).json()["id"]
    queued = submit(studio, content, style, SLOW).json()["id"]
    wait(studio, running, ("running",))
    r = studio.delete(f"/api/jobs/{queued}")
    assert r.status_code == 202 and r.json()["state"] == "cancelled" and r.json()["result"] is None
    assert studio.delete(f"/api/jobs/{running}").status_code == 202
    snap = wait(studio, running)
    assert snap["state"] == "cancelled" and 1 <= snap["step"] < 1000
    im = Image.open(io.BytesIO(studio.get(snap["result"]).content))
    assert im.size == (32, 24) and json.loads(im.text["brushwork"])["studio"]["state"] == "cancelled"
    assert studio.get(f"/api/jobs/{queued}/result.png").status_code == 404
    assert studio.delete(f"/api/jobs/{running}").json()["state"] == "cancelled"  # again: no change


def test_a_full_queue_answers_429(tubingen, starry):
    with client(queue=2) as c:
        content, style = pair(c, tubingen, starry)
        first, second = (submit(c, content, style, SLOW).json()["id"] for _ in range(2))
        r = submit(c, content, style, SLOW)
        assert r.status_code == 429 and "busy" in r.json()["detail"]
        c.delete(f"/api/jobs/{second}")
        assert submit(c, content, style, FAST).status_code == 201  # room again
        c.delete(f"/api/jobs/{first}")


def test_unknown_jobs_are_404(studio):
    for method, path in [("GET", "/api/jobs/nope"), ("DELETE", "/api/jobs/nope"), ("GET", "/api/jobs/nope/events"),
                         ("GET", "/api/jobs/nope/preview"), ("GET", "/api/jobs/nope/result.png")]:
        r = studio.request(method, path)
        assert r.status_code == 404 and "no such job" in r.json()["detail"], path


@pytest.mark.parametrize("body, words", [
    ({"content": "nope", "styles": ["nope"]}, "unknown or expired"),
    ({"styles": []}, "content upload id"),
    ({"options": {"sise": 64}}, "did you mean size"),
    ({"options": {"weights": "/etc/passwd"}}, "sets these options itself: weights"),
    ({"options": {"init": "/etc/passwd"}}, "init must be"),
    ({"options": {"size": 4096}}, "at most 1024 px"),
    ({"options": {"size": -3}}, "positive whole number"),
    ({"preset": "/etc/x.toml"}, "unknown preset"),
    ({"blend": [1, 2]}, "2 values for 1 style"),
    ({"options": {"size": 16}}, "at least"),
])
def test_bad_jobs_are_422_with_the_reason(studio, tubingen, starry, body, words):
    content, style = pair(studio, tubingen, starry)
    r = studio.post("/api/jobs", json={"content": content, "styles": [style], **body})
    assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert studio.post("/api/jobs", content=b"{not json").status_code == 422


def test_foreign_hosts_and_origins_are_refused(studio, tubingen):
    assert studio.get("/", headers={"host": "evil.example:8000"}).status_code == 400
    assert studio.get("/api/presets", headers={"host": "127.0.0.1:9999"}).status_code == 400
    assert studio.get("/", headers={"host": "localhost:8000"}).status_code == 200
    r = studio.post("/api/uploads", content=tubingen.read_bytes(), headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and len(studio.app.state.uploads) == 0
    page = studio.get("/")
    assert page.headers["x-content-type-options"] == "nosniff" and "default-src 'self'" in page.headers["content-security-policy"]


def test_hosts_follow_the_address_served():
    assert Settings().hosts() >= {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"}
    assert "evil.example:8000" not in Settings().hosts()
    assert Settings(host="studio.lan", port=80).hosts() == {"studio.lan", "studio.lan:80"}
    assert "box:9000" in Settings(host="0.0.0.0", port=9000, allow_hosts=("box",)).hosts()


def test_many_jobs_at_once_all_end_defined_and_leave_no_files(tubingen, starry, tmp_path, monkeypatch):
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    with client(workers=2, queue=4) as c:
        content, style = pair(c, tubingen, starry)
        answers = []

        def post(options):
            answers.append(submit(c, content, style, options))

        short = {"size": 64, "iterations": 30}  # long enough to be still running when all six are posted
        threads = [threading.Thread(target=post, args=(o,)) for o in [short, SLOW, short, SLOW, short, short]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] * 4 + [429] * 2
        jobs = [a.json()["id"] for a in answers if a.status_code == 201]
        for job in jobs:
            if c.get(f"/api/jobs/{job}").json()["iterations"] == 1000:
                c.delete(f"/api/jobs/{job}")
        ends = [wait(c, job) for job in jobs]
        assert all(e["state"] in ("done", "cancelled") for e in ends)
        assert all(e["result"] for e in ends if e["state"] == "done")
    assert list(spool.iterdir()) == []  # nothing spooled or left behind
    assert all(not t.name.startswith("brushwork-worker") for t in threading.enumerate())  # workers stopped


def test_page_and_its_files_are_served(studio):
    page = studio.get("/").text
    assert "<title>brushwork studio</title>" in page and "http" not in page.split("<body>")[0].replace("http-equiv", "")
    for name in ("studio.js", "studio.css"):
        r = studio.get(f"/static/{name}")
        assert r.status_code == 200 and "http://" not in r.text and "https://" not in r.text
    presets = studio.get("/api/presets").json()
    assert "preview" in presets["presets"] and presets["defaults"]["size"] == 512
    assert presets["limits"]["max_size"] == 1024


def test_serve_starts_the_studio_refuses_a_used_port_and_stops_on_sigint(tmp_path):
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "brushwork", "serve", "--port", str(port), "--device", "cpu"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = proc.stderr.readline()
        assert f"http://127.0.0.1:{port}/" in line
        for _ in range(100):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert "brushwork studio" in page
        busy = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert busy.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
        assert "Traceback" not in busy.stderr
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130  # as for paint: stopped by Ctrl-C
        rest = proc.stderr.read()
        assert "Traceback" not in rest, rest
    finally:
        proc.kill()
        proc.stderr.close()
    assert list(tmp_path.iterdir()) == []
    bad = subprocess.run([*cmd[:4], "--workers", "0"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--workers must be a positive whole number" in bad.stderr
