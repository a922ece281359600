"""The studio's API: uploads and their limits, jobs, cancelling, events, the gallery, hosts."""

import io
import json
import tempfile
import threading
import time

import pytest
from PIL import Image

from brushwork import images
from brushwork.config import STYLE_TOLERANCES, STYLE_WEIGHTS
from brushwork.engine import Painting
from brushwork.events import Progress
from brushwork.studio import Settings

from studio_helpers import (
    SLOW,
    FakePainting,
    Gate,
    client,
    events,
    fake_paintings,
    paced_paintings,
    pair,
    png,
    small_pair,
    submit,
    until,
    upload,
    wait,
)


def test_upload_is_stored_under_a_random_id_with_a_thumbnail(studio, tubingen):
    r = upload(studio, tubingen.read_bytes(), "../../etc/evil name.jpg")
    assert r.status_code == 201
    info = r.json()
    assert info["name"] == "evil name.jpg" and info["format"] == "JPEG"
    assert (info["width"], info["height"]) == (1024, 768)
    assert len(info["id"]) >= 22 and "evil" not in info["id"]
    thumb = Image.open(io.BytesIO(studio.get(info["thumbnail"]).content))
    assert thumb.format == "JPEG" and max(thumb.size) == 192
    assert studio.get("/api/uploads/nope/thumbnail").status_code == 404


def test_format_is_judged_from_the_bytes_not_the_name(studio):
    assert upload(studio, png(), "photo.txt").json()["format"] == "PNG"
    for data, name in [
        (b"hello, world", "photo.png"),
        (b"%PDF-1.4\n%...", "a.pdf"),
        (b"", "empty.png"),
        (images.encode(Image.new("RGB", (16, 16)), "PNG")[:50] + b"\0" * 10, "cut.png"),
    ]:
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
    with studio.stream("GET", f"/api/jobs/{job}/events") as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        snaps = list(events(s))
    last = snaps[-1]
    assert last["state"] == "done" and last["step"] == 6 and last["eta"] == 0.0
    assert [x["step"] for x in snaps] == sorted(x["step"] for x in snaps)
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


@pytest.mark.parametrize("loss", ["swd", "nn"])
def test_a_job_takes_a_style_loss_and_its_png_records_the_losss_own_weight(studio, tubingen, starry, loss):
    content, style = pair(studio, tubingen, starry)
    r = submit(studio, content, style, {"size": 48, "iterations": 2, "style_loss": loss})
    assert r.status_code == 201
    with studio.stream("GET", f"/api/jobs/{r.json()['id']}/events") as s:
        last = list(events(s))[-1]
    assert last["state"] == "done" and last["step"] == 2
    params = json.loads(Image.open(io.BytesIO(studio.get(last["result"]).content)).text["brushwork"])
    assert params["config"]["style_loss"] == loss and params["config"]["style_weight"] is None
    assert params["effective"]["style_weight"] == STYLE_WEIGHTS[loss]
    assert params["config"]["tolerance"] is None and params["effective"]["tolerance"] == STYLE_TOLERANCES[loss]


def test_the_page_offers_each_style_loss_with_its_own_weight(studio):
    page = studio.get("/").text
    assert all(f'<option value="{loss}">' in page for loss in STYLE_WEIGHTS)
    assert 'id="style-loss"' in page and "style_loss" in studio.get("/static/studio.js").text
    assert studio.get("/api/presets").json()["style_weights"] == STYLE_WEIGHTS
    r = submit(studio, *small_pair(studio), {"style_loss": "sinkhorn"})
    assert r.status_code == 422 and "style_loss" in r.text


def test_the_event_stream_sends_every_step(studio, tubingen, starry, monkeypatch):
    gate = Gate()
    fake_paintings(monkeypatch, gate, steps=5)
    content, style = pair(studio, tubingen, starry)
    job = submit(studio, content, style).json()["id"]
    seen = []
    with studio.stream("GET", f"/api/jobs/{job}/events") as s:
        for snap in events(s):  # the painting makes its next step only once this one was seen
            seen.append((snap["state"], snap["step"]))
            if snap["state"] == "running" and snap["step"] == gate.passed:
                gate.allow(1)
    # Steps 1-4 wait to be seen, so each is sent; after step 5 the job ends at once, so its
    # "running" snapshot may be overtaken by "done" (a race the painting wins or loses).
    running = [step for state, step in seen if state == "running" and step]
    assert running in ([1, 2, 3, 4], [1, 2, 3, 4, 5]) and seen[-1] == ("done", 5)  # every step, once, in order
    assert [state for state, _ in seen].count("done") == 1
    assert studio.get(f"/api/jobs/{job}").json()["version"] >= 7  # running, 5 steps, done


class ScriptedPainting(FakePainting):
    """A FakePainting whose events are given: each one after the gate lets it through."""

    def __init__(self, gate, script):
        super().__init__(gate, steps=len(script))
        self.script = script

    def __next__(self) -> Progress:
        super().__next__()
        return self.script[self.step - 1]


def test_eta_and_total_follow_a_scale_that_converged_early(studio, tubingen, starry, monkeypatch):
    import brushwork.studio.app as app

    gate, sizes = Gate(), (32, 64)
    script = [
        Progress(step=1, iterations=30, losses={}, elapsed=1.0, sizes=sizes, steps=(10, 20)),
        Progress(step=2, iterations=30, losses={}, elapsed=2.0, sizes=sizes, steps=(10, 20)),
        # the first scale converged after 2 of its 10 steps: the total drops to 22
        Progress(step=3, iterations=22, losses={}, elapsed=6.0, sizes=sizes, scale=1, steps=(2, 20)),
        Progress(step=4, iterations=22, losses={}, elapsed=10.0, sizes=sizes, scale=1, steps=(2, 20)),
    ]
    monkeypatch.setattr(app, "stylize_iter", lambda content, styles, config: ScriptedPainting(gate, script))
    job = submit(studio, *pair(studio, tubingen, starry)).json()["id"]
    seen = {}
    with studio.stream("GET", f"/api/jobs/{job}/events") as s:
        for snap in events(s):  # steps 1-3 are each seen while running: the next waits for that
            if snap["state"] == "running":
                seen[snap["step"]] = (snap["iterations"], snap["eta"])
            if snap["state"] == "running" and snap["step"] == gate.passed:
                gate.allow(1)
        assert (snap["state"], snap["iterations"], snap["eta"]) == ("done", 22, 0.0)
    # 1 s a step at 32 px: 9 more there and 20 at 64 px (4× the pixels); after the switch, 4 s a
    # step at 64 px for the 19 steps left of the 22.
    assert seen[1] == (30, 9 * 1.0 + 20 * 4.0) and seen[2] == (30, 8 * 1.0 + 20 * 4.0)
    assert seen[3] == (22, 19 * 4.0)


def test_preview_is_made_only_when_asked(studio, tubingen, starry, monkeypatch):
    calls = []
    real = Painting.current_image
    monkeypatch.setattr(Painting, "current_image", lambda self: calls.append(1) or real(self))
    content, style = pair(studio, tubingen, starry)
    job = submit(studio, content, style, {"size": 32, "iterations": 8}).json()["id"]
    wait(studio, job)
    assert len(calls) == 2  # the last step's event and the finished picture: no preview was asked for
    calls.clear()
    gate = Gate()
    paced_paintings(monkeypatch, gate)
    job = submit(studio, content, style, SLOW).json()["id"]
    assert studio.get(f"/api/jobs/{job}/preview").status_code == 409  # no step yet: answered at once
    gate.allow(1)
    wait(studio, job, ("running",), step=1)
    answer = []
    asking = threading.Thread(target=lambda: answer.append(studio.get(f"/api/jobs/{job}/preview")))
    asking.start()
    while asking.is_alive():  # the copy is made after the next step: let steps through until it is
        gate.allow(1)
        asking.join(0.05)
    r = answer[0]
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (32, 24)
    assert int(r.headers["x-step"]) >= 2 and len(calls) == 1
    studio.delete(f"/api/jobs/{job}")
    assert wait(studio, job)["state"] == "cancelled"


def test_cancel_keeps_the_best_picture_and_a_queued_job_ends_without_one(studio, tubingen, starry, monkeypatch):
    gate = Gate()
    paced_paintings(monkeypatch, gate)
    content, style = pair(studio, tubingen, starry)
    running = submit(studio, content, style, SLOW).json()["id"]
    queued = submit(studio, content, style, SLOW).json()["id"]
    gate.allow(3)
    wait(studio, running, ("running",), step=3)
    r = studio.delete(f"/api/jobs/{queued}")
    assert r.status_code == 202 and r.json()["state"] == "cancelled" and r.json()["result"] is None
    assert studio.delete(f"/api/jobs/{running}").status_code == 202
    snap = wait(studio, running)
    assert snap["state"] == "cancelled" and snap["step"] == 3
    im = Image.open(io.BytesIO(studio.get(snap["result"]).content))
    assert im.size == (32, 24) and json.loads(im.text["brushwork"])["studio"]["state"] == "cancelled"
    assert studio.get(f"/api/jobs/{queued}/result.png").status_code == 404
    assert studio.delete(f"/api/jobs/{running}").json()["state"] == "cancelled"  # again: no change


def test_a_full_queue_answers_429(tubingen, starry, monkeypatch):
    fake_paintings(monkeypatch, Gate())  # every job runs until it is cancelled
    with client(queue=2) as c:
        content, style = pair(c, tubingen, starry)
        first, second = (submit(c, content, style).json()["id"] for _ in range(2))
        r = submit(c, content, style)
        assert r.status_code == 429 and "busy" in r.json()["detail"]
        c.delete(f"/api/jobs/{second}")
        assert submit(c, content, style).status_code == 201  # room again
        c.delete(f"/api/jobs/{first}")


def test_unknown_jobs_are_404(studio):
    for method, path in [
        ("GET", "/api/jobs/nope"),
        ("DELETE", "/api/jobs/nope"),
        ("GET", "/api/jobs/nope/events"),
        ("GET", "/api/jobs/nope/preview"),
        ("GET", "/api/jobs/nope/result.png"),
    ]:
        r = studio.request(method, path)
        assert r.status_code == 404 and "no such job" in r.json()["detail"], path


@pytest.mark.parametrize(
    "body, words",
    [
        ({"content": "nope", "styles": ["nope"]}, "unknown or expired"),
        ({"styles": []}, "styles: list should have at least 1 item"),
        ({"options": {"sise": 64}}, "options.sise: unknown option (did you mean size?)"),
        ({"options": {"weights": "/etc/passwd"}}, "options.weights: the studio sets this option itself"),
        ({"options": {"init": "/etc/passwd"}}, "options.init: input should be 'content' or 'noise'"),
        ({"options": {"size": 4096}}, "options.size: input should be less than or equal to 1024"),
        ({"options": {"size": -3}}, "options.size: input should be greater than or equal to 1"),
        ({"preset": "/etc/x.toml"}, "preset: input should be 'hires', 'jcjohnson', 'paper' or 'preview'"),
        ({"preset": "hires"}, "size 2048: the studio paints at most 1024 px"),
        ({"blend": [1, 2]}, "2 values for 1 style"),
        ({"options": {"size": 16}}, "at least"),
    ],
)
def test_bad_jobs_are_422_with_the_reason(studio, tubingen, starry, body, words):
    content, style = pair(studio, tubingen, starry)
    r = studio.post("/api/jobs", json={"content": content, "styles": [style], **body})
    assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert studio.post("/api/jobs", content=b"{not json").status_code == 422
    assert studio.get("/api/jobs").json() == []


def test_foreign_hosts_and_origins_are_refused(studio, tubingen):
    assert studio.get("/", headers={"host": "evil.example:8000"}).status_code == 400
    assert studio.get("/api/presets", headers={"host": "127.0.0.1:9999"}).status_code == 400
    assert studio.get("/", headers={"host": "localhost:8000"}).status_code == 200
    r = studio.post("/api/uploads", content=tubingen.read_bytes(), headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and len(studio.app.state.uploads) == 0
    page = studio.get("/")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_hosts_follow_the_address_served():
    assert Settings().hosts() >= {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"}
    assert "evil.example:8000" not in Settings().hosts()
    assert Settings(host="studio.lan", port=80).hosts() == {"studio.lan", "studio.lan:80"}
    assert Settings(host="studio.lan", port=80).origins() == {"http://studio.lan", "http://studio.lan:80"}
    assert Settings(host="studio.lan", port=8000).origins() == {"http://studio.lan:8000"}
    assert "box:9000" in Settings(host="0.0.0.0", port=9000, allow_hosts=("box",)).hosts()


def test_many_jobs_at_once_all_end_defined_and_leave_no_files(tubingen, starry, tmp_path, monkeypatch):
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    gate = Gate()
    fake_paintings(monkeypatch, gate)  # every job runs until it is cancelled
    with client(workers=2, queue=4) as c:
        content, style = pair(c, tubingen, starry)
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(submit(c, content, style))) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(a.status_code for a in answers) == [201] * 4 + [429] * 2
        jobs = [a.json()["id"] for a in answers if a.status_code == 201]
        gate.allow(4)
        until(lambda: gate.passed == 4)
        for job in jobs:
            c.delete(f"/api/jobs/{job}")
        ends = [wait(c, job) for job in jobs]
        assert all(e["state"] == "cancelled" for e in ends) and sum(e["step"] for e in ends) == 4
        assert all(bool(e["result"]) == (e["step"] > 0) for e in ends)  # one that had made steps keeps its picture
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
    assert presets["limits"]["max_size"] == 1024 and presets["limits"]["max_styles"] == 4


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
    proc = subprocess.Popen(
        cmd,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
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
