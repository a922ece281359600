"""The studio attacked as a careless or hostile client would (issue 14, findings 5, 6 and 8): who
may send what, stopping while pages watch, and fairness between clients. Requests go to an
in-process studio, or to ``brushwork serve`` on 127.0.0.1 where the process itself is tested."""

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from brushwork.config import Config
from brushwork.studio.jobs import Job, Spec
from brushwork.studio.workers import JobQueue

from studio_helpers import (
    FakePainting,
    Gate,
    client,
    events,
    fake_paintings,
    png,
    small_pair,
    strict,
    submit,
    until,
    upload,
    wait,
)


# 5. Cross-origin requests from other local pages ------------------------------------------------
@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost",
        "https://127.0.0.1:8000",
        "http://[::1]",
        "https://localhost:8000",
        "http://127.0.0.1:8001",
        "http://127.0.0.1:8000.evil.example",
        "null",
    ],
)
def test_only_the_page_s_exact_origin_may_post(studio, origin):
    r = upload(studio, png(), headers={"origin": origin})
    assert r.status_code == 403 and len(studio.app.state.uploads) == 0, origin


def test_the_page_s_own_origins_may_post_and_other_sites_may_not(studio):
    for origin in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        assert upload(studio, png(), headers={"origin": origin}).status_code == 201
    for site in ("cross-site", "same-site"):  # a browser says where a request comes from
        assert upload(studio, png(), headers={"sec-fetch-site": site}).status_code == 403
    assert upload(studio, png(), headers={"sec-fetch-site": "same-origin"}).status_code == 201


# 6. Stopping while a page watches a job ----------------------------------------------------------
STUBBORN = """
import torch, brushwork.studio.app as app
from brushwork.events import Progress

class Stubborn:  # one step, then a step inside the network that ignores stop() and lasts minutes
    step = 0
    def __iter__(self): return self
    def __next__(self):
        self.step += 1
        for _ in range(1000 if self.step > 1 else 0):
            torch.nn.functional.conv2d(torch.ones(1, 64, 1024, 1024), torch.ones(64, 64, 3, 3), padding=1)
        return Progress(step=self.step, iterations=10, losses={"total": 1.0}, elapsed=0.0, sizes=(32,))
    def current_image(self): return torch.zeros(1, 3, 24, 32)
    def stop(self): pass

app.stylize_iter = lambda content, styles, config: Stubborn()
"""
# A job that ends its step in time: steps of 10 ms, for as long as it is not stopped (a real
# painting's step could outlast the studio's grace on a slow or busy machine).
BRISK = """
import time, torch, brushwork.studio.app as app
from brushwork.events import Progress

class Brisk:
    step = 0
    def __iter__(self): return self
    def __next__(self):
        time.sleep(0.01)
        self.step += 1
        return Progress(step=self.step, iterations=10**6, losses={"total": 1.0}, elapsed=0.0, sizes=(32,))
    def current_image(self): return torch.zeros(1, 3, 24, 32)
    def stop(self): pass

app.stylize_iter = lambda content, styles, config: Brisk()
"""


def stop_while_watching(tmp_path, picture, prelude=""):
    """Serve, paint a job and queue another, watch the first until its first step, send SIGTERM:
    (the stream's events after it, the exit status, stderr)."""
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    serve = prelude + "import sys; from brushwork.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", serve, "serve", "--port", str(port), "--device", "cpu"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )

    def call(path, data=None):
        request = urllib.request.Request(base + path, data=data, headers={"content-type": "application/json"})
        return urllib.request.urlopen(request, timeout=60)

    try:
        assert base in proc.stderr.readline()
        pic = json.loads(call("/api/uploads", picture).read())["id"]
        body = json.dumps({"content": pic, "styles": [pic], "options": {"size": 64, "scales": [32, 48]}}).encode()
        job, queued = (json.loads(call("/api/jobs", body).read())["id"] for _ in range(2))
        stream = call(f"/api/jobs/{job}/events")
        for line in stream:
            if line.startswith(b"data: ") and strict(line[6:].decode())["step"] >= 1:
                break
        proc.send_signal(signal.SIGTERM)
        after = [strict(line[6:].decode()) for line in stream if line.startswith(b"data: ")]  # to the stream's end
        code = proc.wait(60)
        return after, code, proc.stderr.read()
    finally:
        proc.kill()
        proc.stderr.close()


@pytest.mark.parametrize("prelude", [BRISK, STUBBORN], ids=["between-steps", "inside-a-long-step"])
def test_sigterm_ends_every_job_and_stream_and_exits_at_once(tmp_path, tubingen, prelude):
    after, code, err = stop_while_watching(tmp_path, tubingen.read_bytes(), prelude)
    assert code == 143 and err.strip().endswith("brushwork: terminated"), err  # as for paint
    assert after and after[-1]["state"] == "cancelled" and after[-1]["step"] >= 1  # the page learns it ended
    # One step ran on; the other not.
    assert after[-1]["error"] == ("the studio stopped" if prelude == STUBBORN else None)
    # Uvicorn alone would wait out its 5 s graceful timeout and say so: the words, not a clock, show it did not.
    for words in ("Traceback", "timeout graceful shutdown", "ERROR", "terminate called"):
        assert words not in err, err


def test_a_job_that_does_not_stop_in_time_is_ended_without_its_worker():
    gate = Gate()
    stuck = FakePainting(gate)
    stuck.stop = lambda: None  # ignores being told to stop: it ends only when the test lets it
    queue = JobQueue(workers=1, limit=2)
    job = queue.submit(Spec("c", ("s",), ("c.png", "s.png"), Config(size=32)), lambda: stuck)
    until(lambda: job.state == "running")
    queue.close(grace=0.05)
    assert job.state == "cancelled" and job.error == "the studio stopped"
    gate.allow(1)  # the worker ends now; the job keeps its state
    for t in queue._threads:
        t.join(30)
    assert job.snapshot()["state"] == "cancelled" and job.png is None


# 8. Fairness ---------------------------------------------------------------------------------------
def test_waiting_previews_hold_no_thread(studio, monkeypatch):
    gate = Gate()
    fake_paintings(monkeypatch, gate)
    content, style = small_pair(studio)
    job_id = submit(studio, content, style).json()["id"]
    assert studio.get(f"/api/jobs/{job_id}/preview").status_code == 409  # no step yet: answered at once
    gate.allow(1)
    wait(studio, job_id, ("running",), step=1)
    answers = []
    askers = [
        threading.Thread(target=lambda: answers.append(studio.get(f"/api/jobs/{job_id}/preview"))) for _ in range(60)
    ]
    for t in askers:
        t.start()
    job = studio.app.state.queue.get(job_id)
    # All sixty wait for the next step (a studio holding a thread per preview never gets there: its pool is smaller).
    until(lambda: len(getattr(job, "_waiters", ())) == 60, timeout=60)
    assert upload(studio, png()).status_code == 201  # an upload meanwhile is answered ...
    assert all(t.is_alive() for t in askers)  # ... while every preview still waits
    gate.allow(1)
    for t in askers:
        t.join(60)
    assert [a.status_code for a in answers] == [200] * 60 and {a.headers["x-step"] for a in answers} == {"2"}
    studio.delete(f"/api/jobs/{job_id}")


def test_idle_event_streams_cost_nothing(studio, monkeypatch):
    gate = Gate()
    fake_paintings(monkeypatch, gate)
    calls = []
    real = Job.snapshot
    monkeypatch.setattr(Job, "snapshot", lambda self: calls.append(1) or real(self))
    content, style = small_pair(studio)
    job = submit(studio, content, style).json()["id"]
    gate.allow(1)
    wait(studio, job, ("running",), step=1)
    seen = [[] for _ in range(50)]

    def watch(mine):
        with studio.stream("GET", f"/api/jobs/{job}/events") as s:
            for snap in events(s):
                mine.append(snap["step"])

    watchers = [threading.Thread(target=watch, args=(mine,)) for mine in seen]
    for t in watchers:
        t.start()
    until(lambda: all(seen))
    before = len(calls)
    time.sleep(0.5)  # fifty streams with nothing to say: they ask the job nothing
    assert len(calls) == before
    gate.allow(1)
    until(lambda: all(len(mine) == 2 for mine in seen))
    studio.delete(f"/api/jobs/{job}")
    for t in watchers:
        t.join(60)
    assert all(mine == [1, 2, 2] for mine in seen)  # each change once: step 2, then cancelled at step 2


def test_one_client_s_uploads_cannot_evict_another_s():
    with client() as c:
        c.get("/")  # the page gives each browser a cookie of its own
        kept = [upload(c, png(color=(i, 0, 0))).json()["id"] for i in range(3)]
        cookie = c.cookies.get("brushwork_client")
        c.cookies.clear()
        scripts = [upload(c, png(color=(0, i, 0))).json()["id"] for i in range(70)]  # no cookie: one shared quota
        other = {"cookie": "brushwork_client=" + "b" * 22}
        others = [upload(c, png(color=(0, 0, i)), headers=other).json()["id"] for i in range(70)]
        alive = lambda ids: [c.get(f"/api/uploads/{i}/thumbnail").status_code == 200 for i in ids]  # noqa: E731
        assert all(alive(kept)) and cookie
        assert alive(scripts) == [False] * 54 + [True] * 16 and alive(others) == [False] * 54 + [True] * 16
        assert len(c.app.state.uploads) == 3 + 16 + 16


def test_every_page_answers_head_and_the_api_is_not_described(studio, monkeypatch):
    fake_paintings(monkeypatch, Gate(), steps=0)
    content, style = small_pair(studio)
    job = submit(studio, content, style).json()["id"]
    wait(studio, job)
    gets = [r.path for r in studio.app.routes if "GET" in getattr(r, "methods", ())]
    assert len(gets) >= 8
    for path in [*gets, "/static/studio.js"]:
        path = path.replace("{job_id}", job).replace("{upload_id}", content)
        got, head = studio.get(path), studio.head(path)
        assert head.status_code == got.status_code != 405 and head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert studio.get(path).status_code == 404


def test_refusals_carry_the_security_headers(studio, tubingen):
    answers = [
        studio.get("/", headers={"host": "evil.example"}),
        upload(studio, tubingen.read_bytes(), headers={"origin": "http://evil.example"}),
        studio.get("/api/jobs/nope"),
        studio.put("/api/jobs"),
        upload(studio, b"not a picture"),
        studio.post("/api/jobs", json=[]),
        studio.post("/api/jobs", content=b"{}", headers={"content-length": "999999"}),
    ]
    for a in answers:
        assert a.headers.get("x-content-type-options") == "nosniff" and a.headers.get("x-frame-options") == "DENY", a
        assert "default-src 'self'" in a.headers.get("content-security-policy", ""), a
    assert [a.status_code for a in answers] == [400, 403, 404, 405, 415, 422, 413]
