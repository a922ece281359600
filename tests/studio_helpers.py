"""What the studio's tests share: a client of an in-process studio, pictures, requests, and
paintings whose pace the test sets (a step happens only when the test lets it through a ``Gate``,
so no test depends on the machine's speed)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from brushwork import images
from brushwork.events import Progress
from brushwork.studio import Settings, create_app
from brushwork.studio.jobs import TERMINAL

HOST = "http://127.0.0.1:8000"
FAST = {"size": 32, "iterations": 3}
SLOW = {"size": 32, "iterations": 1000}  # with a paced or fake painting: runs until cancelled


def client(**settings) -> TestClient:
    return TestClient(create_app(Settings(device="cpu", **settings)), base_url=HOST)


@pytest.fixture
def studio():
    with client() as c:
        yield c


def png(w=40, h=30, color=(200, 40, 40)) -> bytes:
    return images.encode(Image.new("RGB", (w, h), color), "PNG")


def upload(c, data: bytes, name="x.png", **kwargs):
    return c.post(f"/api/uploads?name={name}", content=data, **kwargs)


def pair(c, tubingen, starry):
    return (
        upload(c, tubingen.read_bytes(), "t.jpg").json()["id"],
        upload(c, starry.read_bytes(), "s.jpg").json()["id"],
    )


def small_pair(c):
    """Two small uploads, for jobs that are refused before anything is painted."""
    return upload(c, png(64, 48)).json()["id"], upload(c, png(64, 48, (20, 90, 200))).json()["id"]


def submit(c, content, style, options=FAST, **extra):
    return c.post("/api/jobs", json={"content": content, "styles": [style], "options": options, **extra})


def wait(c, job_id, states=TERMINAL, step=0, timeout=120):
    """The job's snapshot once it is in one of ``states`` with at least ``step`` steps made."""
    end = time.time() + timeout
    while time.time() < end:
        snap = c.get(f"/api/jobs/{job_id}").json()
        if snap["state"] in states and snap["step"] >= step:
            return snap
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} still {snap['state']} at step {snap['step']}")


def until(condition, timeout: float = 60.0) -> None:
    """Wait for ``condition()`` (something another thread does), failing after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "waited in vain"
        time.sleep(0.01)


def strict(text: str):
    """JSON as a browser's JSON.parse reads it: NaN and Infinity are errors."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def events(stream):
    """The snapshots an event stream sends, one at a time (each parsed as a browser would)."""
    for line in stream.iter_lines():
        if line.startswith("data: "):
            yield strict(line[6:])


class Gate:
    """Steps the test lets through: ``allow(n)`` lets n more happen, ``open()`` all that follow."""

    def __init__(self):
        self._cond = threading.Condition()
        self._allowed, self._open, self.passed, self.waiting = 0, False, 0, 0

    def allow(self, n: int = 1) -> None:
        with self._cond:
            self._allowed += n
            self._cond.notify_all()

    def open(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._open, self._allowed = False, 0

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def through(self, stopped) -> bool:
        """Wait until one step may happen (True) or ``stopped()`` (False)."""
        with self._cond:
            self.waiting += 1
            self._cond.wait_for(lambda: self._open or self._allowed > 0 or stopped())
            self.waiting -= 1
            if stopped():
                return False
            self._allowed -= not self._open
            self.passed += 1
            return True


class FakePainting:
    """A Painting's interface without the work: one Progress per step the gate lets through, up to
    ``steps`` (or until ``stop()``); the picture is a grey that gets lighter with each step."""

    def __init__(self, gate: Gate, steps: int = 10**6, hw: tuple[int, int] = (24, 32), losses=None):
        self.gate, self.steps, self.hw, self.step, self.stopped = gate, steps, hw, 0, False
        self.losses = losses or (lambda step: {"content": 1.0, "style": 2.0, "total": 3.0 / step})

    def __iter__(self):
        return self

    def __next__(self) -> Progress:
        if self.step >= self.steps or not self.gate.through(lambda: self.stopped):
            raise StopIteration
        self.step += 1
        return Progress(
            step=self.step,
            iterations=self.steps,
            losses=self.losses(self.step),
            elapsed=0.01 * self.step,
            sizes=(max(self.hw),),
        )

    def current_image(self):
        return None if self.step == 0 else torch.full((1, 3, *self.hw), min(1.0, self.step / 100))

    def stop(self) -> None:
        self.stopped = True
        self.gate.wake()


class Paced:
    """A real Painting that makes each step only when the gate lets it."""

    def __init__(self, painting, gate: Gate):
        self.painting, self.gate, self.stopped = painting, gate, False

    def __iter__(self):
        return self

    def __next__(self) -> Progress:
        if not self.gate.through(lambda: self.stopped):
            raise StopIteration
        return next(self.painting)

    def current_image(self):
        return self.painting.current_image()

    def stop(self) -> None:
        self.stopped = True
        self.painting.stop()
        self.gate.wake()


def fake_paintings(monkeypatch, gate: Gate, **kwargs) -> None:
    """Every job of the studio paints a FakePainting behind ``gate``."""
    import brushwork.studio.app as app

    monkeypatch.setattr(app, "stylize_iter", lambda content, styles, config: FakePainting(gate, **kwargs))


def paced_paintings(monkeypatch, gate: Gate) -> None:
    """Every job of the studio paints for real, one step each time ``gate`` lets it."""
    import brushwork.studio.app as app

    real = app.stylize_iter
    monkeypatch.setattr(app, "stylize_iter", lambda content, styles, config: Paced(real(content, styles, config), gate))
