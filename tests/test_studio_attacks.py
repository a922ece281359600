"""The studio attacked as a careless or hostile client would (issue 14, findings 1 to 4 and 7): what
a request carries. Non-finite numbers, diverging jobs, huge pictures, many styles, a full queue,
limits walked around, cancelling while a job sets up, and wrong types, one test each (findings 5, 6
and 8: test_studio_serving.py)."""

import dataclasses
import io
import json
import math
import subprocess
import sys
import threading

import numpy as np
import pytest
import tifffile
from PIL import Image

import brushwork.scales as scales
from brushwork.config import Config
from brushwork.studio.schema import SERVER_ONLY

from studio_helpers import SLOW, Gate, client, events, fake_paintings, pair, small_pair, strict, submit, until, wait

NAN_BODIES = [
    ("seed", "NaN"),
    ("seed", "Infinity"),
    ("seed", "-Infinity"),
    ("normalize_gradients", "NaN"),
    ("tile_size", "Infinity"),
    ("style_weight", "-Infinity"),
    ("content_weight", "1e400"),
]


def post_json(c, text: str, **headers):
    return c.post("/api/jobs", content=text.encode(), headers={"content-type": "application/json", **headers})


# 1. One request breaks the gallery -------------------------------------------------------------
@pytest.mark.parametrize("option, value", NAN_BODIES)
def test_non_finite_numbers_are_refused_and_nothing_is_queued(studio, option, value):
    content, style = small_pair(studio)
    r = post_json(studio, f'{{"content": "{content}", "styles": ["{style}"], "options": {{"{option}": {value}}}}}')
    assert r.status_code == 422 and r.json()["detail"].startswith(f"options.{option}: "), r.text
    gallery = studio.get("/api/jobs")
    assert gallery.status_code == 200 and strict(gallery.text) == []


def test_losses_that_are_not_finite_never_reach_json(studio, monkeypatch):
    gate = Gate()
    fake_paintings(monkeypatch, gate, steps=2, losses=lambda step: {"style": math.inf, "total": math.nan})
    content, style = small_pair(studio)
    job = submit(studio, content, style).json()["id"]
    gate.allow(1)
    wait(studio, job, ("running",), step=1)
    for path in ("/api/jobs", f"/api/jobs/{job}"):
        r = studio.get(path)
        assert r.status_code == 200 and "NaN" not in r.text and "Infinity" not in r.text
    assert strict(studio.get(f"/api/jobs/{job}").text)["losses"] == {"style": None, "total": None}
    gate.allow(1)
    with studio.stream("GET", f"/api/jobs/{job}/events") as s:
        last = list(events(s))[-1]
    assert last["state"] == "done" and last["losses"] == {"style": None, "total": None}
    params = json.loads(Image.open(io.BytesIO(studio.get(last["result"]).content)).text["brushwork"])
    assert params["losses"] == {"style": None, "total": None}  # the PNG's parameters are JSON too


@pytest.mark.parametrize("options", [{"learning_rate": 1e308}, {"style_weight": 1e300, "tv_weight": 1e300}])
def test_a_diverging_job_fails_with_a_message_and_its_stream_ends(studio, tubingen, starry, options):
    content, style = pair(studio, tubingen, starry)
    job = submit(studio, content, style, {"size": 32, "iterations": 20, **options}).json()["id"]
    with studio.stream("GET", f"/api/jobs/{job}/events") as s:
        snaps = list(events(s))  # every event parses as the page's JSON.parse would
    assert snaps[-1]["state"] == "failed" and "NaN or infinite" in snaps[-1]["error"]
    assert strict(studio.get("/api/jobs").text)[0]["state"] == "failed"
    assert strict(studio.get(f"/api/jobs/{job}").text)["state"] == "failed"


# 2. Memory inside the documented limits --------------------------------------------------------
@pytest.fixture(scope="module")
def huge_pictures(tmp_path_factory):
    """A 6000×6600 PNG (small file, 39.6 megapixels) and a 16-bit TIFF of as many pixels."""
    folder = tmp_path_factory.mktemp("huge")
    Image.new("RGB", (6000, 6600), (90, 120, 200)).save(folder / "huge.png")
    tifffile.imwrite(
        folder / "huge.tif", np.full((6600, 6000, 3), 30000, np.uint16), photometric="rgb", compression="zlib"
    )
    return folder / "huge.png", folder / "huge.tif"


MEASURE = """
import ctypes, gc, json, resource, sys
import psutil
resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))  # a runaway fails here, not the machine
from fastapi.testclient import TestClient
from brushwork.studio import Settings, create_app
from brushwork.studio.workers import JobQueue
app = create_app(Settings(device="cpu"))
app.state.queue = JobQueue(workers=0, limit=8)  # the jobs wait: what a queue holds is measured
unit = 1 if sys.platform == "darwin" else 1024
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
trim = getattr(ctypes.CDLL(None), "malloc_trim", lambda pad: 0)  # glibc's: gives back what it keeps
with TestClient(app, base_url="http://127.0.0.1:8000") as c:
    up = lambda path: c.post("/api/uploads", content=open(path, "rb").read()).json()["id"]
    small = up(sys.argv[3])  # warms up the imports a decode needs
    c.post("/api/jobs", json={"content": small, "styles": [small], "options": {"size": 64}})
    gc.collect()
    trim(0)
    base_rss, base_peak = psutil.Process().memory_info().rss, peak()
    png, tif = up(sys.argv[1]), up(sys.argv[2])
    job = {"content": png, "styles": [png, tif, png, tif], "options": {"size": 1024}}
    codes = [c.post("/api/jobs", json=job).status_code for _ in range(8)]
    gc.collect()
    trim(0)  # what the allocator keeps for later is not held
    grown, held = peak() - base_peak, psutil.Process().memory_info().rss - base_rss
    print(json.dumps({"codes": codes, "peak": grown, "held": held}))
"""


def test_huge_uploads_are_shrunk_on_arrival_and_queued_jobs_hold_little(huge_pictures, tmp_path, tubingen):
    """Two 40-megapixel pictures, then eight queued jobs of the largest size, each listing them four
    times: the server's peak and what it holds stay small (before: several GB each)."""
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, *map(str, huge_pictures), str(tubingen)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    # One queued job is the first 201; seven more fill the queue of 8 (the one warm-up job waits too).
    assert out["codes"] == [201] * 7 + [429], out
    assert out["peak"] < 600 * 2**20, f"decoding and queueing raised the peak by {out['peak'] / 2**20:.0f} MiB"
    assert out["held"] < 100 * 2**20, f"the queue holds {out['held'] / 2**20:.0f} MiB"


def test_a_job_lists_at_most_max_styles_and_its_body_is_capped(studio):
    content, style = small_pair(studio)
    r = studio.post("/api/jobs", json={"content": content, "styles": [style] * 300})
    assert r.status_code == 422 and r.json()["detail"].startswith("styles: list should have at most 4 items")
    big = json.dumps({"content": content, "styles": [style], "options": {"content_layer": "x" * 70_000}})
    assert post_json(studio, big).status_code == 413
    r = studio.post("/api/jobs", content=(b"{" for _ in range(1)), headers={"content-length": str(200 * 2**20)})
    assert r.status_code == 413 and "64 KiB" in r.json()["detail"]
    assert studio.get("/api/jobs").json() == []


# 3. A full queue answers 429 before anything is decoded -----------------------------------------
def test_a_full_queue_answers_before_reading_any_picture(monkeypatch):
    made, gate = [], Gate()
    fake_paintings(monkeypatch, gate)  # jobs that run until cancelled
    import brushwork.studio.app as app

    painting = app.stylize_iter
    monkeypatch.setattr(app, "stylize_iter", lambda *a: made.append(1) or painting(*a))
    with client(queue=1) as c:
        content, style = small_pair(c)
        assert submit(c, content, style).status_code == 201
        until(lambda: gate.waiting == 1)  # the worker is inside the first job's painting
        made.clear()
        r = submit(c, content, style)
        assert r.status_code == 429 and made == []


# 4. Limits that could be walked around ----------------------------------------------------------
@pytest.mark.parametrize(
    "options, words",
    [
        (
            {"style_scale": 1000},
            "style_scale 1000 × size 512 = 512000 px: the studio paints a style picture at most at 1024 px",
        ),
        ({"style_scale": 1e308}, "options.style_scale: input should be less than or equal to 1024"),
        ({"size": 64, "style_scale": 17}, "style_scale 17 × size 64 = 1088 px"),
        ({"size": 64, "scales": list(range(20, 63))}, "options.scales: tuple should have at most 8 items"),
        ({"size": 64, "scales": [32, 2000]}, "options.scales.1: input should be less than or equal to 1024"),
        ({"size": 1024, "start_size": 2}, "scales: 10 sizes"),
        ({"iterations": 10**6}, "options.iterations: input should be less than or equal to 1000"),
        ({"scale_iterations": [10, 10**6]}, "options.scale_iterations.1: input should be less than or equal to 1000"),
        ({"size": 64, "scale_iterations": [1] * 9}, "options.scale_iterations: tuple should have at most 8 items"),
        ({"size": 512, "scale_iterations": [5]}, "--scale-iterations has 1 values for the 2 scales (256, 512)"),
        ({"tile_size": 10**9}, "options.tile_size: input should be less than or equal to 1024"),
    ],
)
def test_size_like_options_are_bounded(studio, options, words):
    content, style = small_pair(studio)
    r = submit(studio, content, style, options)
    assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_the_bounds_themselves_are_accepted(studio, monkeypatch):
    fake_paintings(monkeypatch, Gate(), steps=1)
    content, style = small_pair(studio)
    r = submit(studio, content, style, {"size": 64, "style_scale": 16, "scales": [32, 40, 48, 50, 52, 54, 56, 64]})
    assert r.status_code == 201, r.text
    studio.delete(f"/api/jobs/{r.json()['id']}")


def test_cancel_stops_a_job_while_it_sets_up(studio, tubingen, starry, monkeypatch):
    """The job is held in its first scale's targets (the longest part of the setup) until it has been
    cancelled: it ends there, without a step (before: it went on to paint)."""
    inside, release = threading.Event(), threading.Event()
    real = scales.Run.objective

    def held(self, *args):
        inside.set()
        release.wait(60)
        return real(self, *args)

    monkeypatch.setattr(scales.Run, "objective", held)
    content, style = pair(studio, tubingen, starry)
    job = submit(studio, content, style, SLOW).json()["id"]
    assert inside.wait(60)
    assert studio.delete(f"/api/jobs/{job}").status_code == 202
    release.set()
    snap = wait(studio, job)
    assert snap["state"] == "cancelled" and snap["step"] == 0 and snap["result"] is None


# 7. Validation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [[], "", 0, False, None])
def test_options_must_be_an_object(studio, options):
    content, style = small_pair(studio)
    r = studio.post("/api/jobs", json={"content": content, "styles": [style], "options": options})
    assert r.status_code == 422 and r.json()["detail"].startswith("options: must be an object"), r.text


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Config) if f.name not in SERVER_ONLY])
def test_every_option_s_wrong_type_is_refused_by_name(studio, name):
    content, style = small_pair(studio)
    for wrong in ({"a": 1}, [[1]], True if Config.__dataclass_fields__[name].type != "bool" else "false"):
        r = studio.post("/api/jobs", json={"content": content, "styles": [style], "options": {name: wrong}})
        assert r.status_code == 422 and r.json()["detail"].startswith(f"options.{name}"), (wrong, r.text)
    assert studio.get("/api/jobs").json() == []


def test_exact_types(studio):
    content, style = small_pair(studio)
    for options, words in [
        ({"seed": "x"}, "options.seed: input should be a valid integer"),
        ({"normalize_gradients": "false"}, "options.normalize_gradients: input should be a valid boolean"),
        ({"size": 64.0}, "options.size: input should be a valid integer"),
        ({"iterations": True}, "options.iterations: input should be a valid integer"),
    ]:
        r = submit(studio, content, style, options)
        assert r.status_code == 422 and r.json()["detail"] == words, r.text


def test_deeply_nested_json_is_a_422(studio):
    r = post_json(studio, "[" * 30_000 + "]" * 30_000)
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    r = post_json(studio, '{"content": "a", "styles": ["b"], "options": {"seed": ' + "[" * 30_000 + "]" * 30_000 + "}}")
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    assert post_json(studio, "[" * 100_000 + "]" * 100_000).status_code == 413  # over the cap: not even parsed
