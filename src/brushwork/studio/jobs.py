"""The studio's jobs: a bounded queue, worker threads that paint them, cancelling, and what the
page is shown (progress, an ETA, a preview made only when asked for, the finished PNG)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from torch import Tensor

from .. import images
from ..config import Config
from ..engine import Painting
from ..events import Progress, run_params
from .uploads import new_id

TERMINAL = ("done", "cancelled", "failed")


class QueueFull(Exception):
    """The queue holds as many jobs as it may; the page is told to try later (429)."""


@dataclass(frozen=True)
class Spec:
    """What a job paints: upload ids, their names, the blend and the options."""

    content: str
    styles: tuple[str, ...]
    names: tuple[str, ...]  # content's, then each style's file name, for the PNG's parameters
    config: Config
    preset: str | None = None

    def settings(self) -> dict:
        """What the page needs to open the job again: inputs, preset and every option."""
        return {"content": self.content, "styles": list(self.styles), "names": list(self.names), "preset": self.preset,
                "options": dataclasses.asdict(self.config)}


class Job:
    """One painting. Its state changes only under ``_cond``; ``version`` counts the changes,
    so the event stream sends a snapshot only when something happened."""

    def __init__(self, spec: Spec, painting: Painting):
        self.id, self.spec, self.created = new_id(), spec, time.time()
        self.state, self.error, self.version = "queued", None, 0
        self._painting: Painting | None = painting
        self._event: Progress | None = None
        self._eta: float | None = None
        self._scale_start = (0, 0, 0.0)  # (scale, step, elapsed) where the running scale began
        self._image: Tensor | None = None  # the latest preview, or the final picture
        self._image_step = 0
        self._png: bytes | None = None
        self._cancel = threading.Event()
        self._want_preview = False
        self._cond = threading.Condition()

    # -- what the worker calls -------------------------------------------------------------
    def run(self) -> None:
        with self._cond:
            if self.state != "queued":
                return
            self._set("running")
        painting, state, error = self._painting, "done", None
        try:
            for event in painting:
                self._progress(event, painting)
                if self._cancel.is_set() and not event.done:
                    state = "cancelled"
                    break
        except Exception as e:  # a failed job is shown, never takes the server down
            state, error = "failed", str(e) or type(e).__name__
        self._finish(state, error, painting.current_image())

    def _progress(self, event: Progress, painting: Painting) -> None:
        with self._cond:
            if self._event is None or event.scale != self._event.scale:
                self._scale_start = (event.scale, event.step - 1, self._event.elapsed if self._event else 0.0)
            self._event, self._eta = event, self._estimate(event)
            if self._want_preview:  # the only copy of the picture the page's asking costs
                self._image, self._image_step = painting.current_image(), event.step
                self._want_preview = False
            self._set(self.state)

    def _estimate(self, event: Progress) -> float | None:
        """Seconds left: this scale's time per step, scaled by pixels for the larger scales."""
        scale, step0, t0 = self._scale_start
        if event.step - step0 < 1 or not event.sizes:
            return None
        per_step = (event.elapsed - t0) / (event.step - step0)
        cfg, left = self.spec.config, 0.0
        for k, size in enumerate(event.sizes):
            if k < scale:
                continue
            steps = cfg.steps_at(size)
            done = event.step - step0 if k == scale else 0
            left += (steps - done) * per_step * (size / event.sizes[scale]) ** 2
        return max(0.0, left)

    def _finish(self, state: str, error: str | None, image: Tensor | None) -> None:
        png = None
        if image is not None:
            ev = self._event
            params = {"content": self.spec.names[0], "styles": list(self.spec.names[1:]),
                      **run_params(self.spec.config), "step": ev.step if ev else 0,
                      "losses": dict(ev.losses) if ev else {}, "studio": {"state": state}}
            png = images.encode(image, "PNG", params)
        with self._cond:
            self._image, self._png, self.error = image, png, error
            self._image_step = self._event.step if self._event else 0
            self._painting = None  # frees the inputs and the network's activations
            self._eta = 0.0 if state == "done" else None
            self._set(state)

    # -- what the web handlers call ----------------------------------------------------------
    def cancel(self) -> None:
        """A queued job ends at once with no picture; a running one after its current step,
        keeping the best picture so far."""
        with self._cond:
            if self.state == "queued":
                self._painting = None
                self._set("cancelled")
            elif self.state == "running":
                self._cancel.set()

    def preview(self, timeout: float = 10.0) -> tuple[Tensor | None, int]:
        """The picture now: a running job copies it after its current step (waited for)."""
        with self._cond:
            if self.state == "running":
                self._want_preview = True
                self._cond.wait_for(lambda: not self._want_preview or self.state != "running", timeout)
            return self._image, self._image_step

    @property
    def png(self) -> bytes | None:
        with self._cond:
            return self._png

    def wait(self, timeout: float | None = None) -> bool:
        """Until the job has ended; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self.state in TERMINAL, timeout)

    def snapshot(self) -> dict:
        with self._cond:
            ev = self._event
            return {"id": self.id, "state": self.state, "version": self.version, "error": self.error,
                    "step": ev.step if ev else 0,
                    "iterations": ev.iterations if ev else sum(map(self.spec.config.steps_at, self.spec.config.schedule())),
                    "scale": ev.scale if ev else 0, "size": ev.size if ev else None,
                    "sizes": list(ev.sizes) if ev else self.spec.config.schedule(),
                    "losses": dict(ev.losses) if ev else {}, "elapsed": round(ev.elapsed, 3) if ev else 0.0,
                    "eta": None if self._eta is None else round(self._eta, 1),
                    "result": f"/api/jobs/{self.id}/result.png" if self._png else None,
                    "created": self.created, "settings": self.spec.settings()}

    def _set(self, state: str) -> None:
        self.state = state
        self.version += 1
        self._cond.notify_all()


class JobQueue:
    """Jobs in order of arrival, run by ``workers`` threads. At most ``limit`` jobs wait or
    run at once; ended jobs stay listed (the gallery) up to ``keep`` of them."""

    def __init__(self, workers: int = 1, limit: int = 8, keep: int = 50):
        self.limit, self.keep = limit, keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._waiting: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"brushwork-worker-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, spec: Spec, painting: Painting) -> Job:
        with self._cond:
            active = sum(j.state not in TERMINAL for j in self._jobs.values())
            if active >= self.limit:
                raise QueueFull(f"the studio is busy: {active} jobs are waiting or running (at most {self.limit}); "
                                f"try again when one has finished")
            job = Job(spec, painting)
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._forget_old()
            self._cond.notify()
            return job

    def get(self, job_id: str) -> Job:
        with self._cond:
            return self._jobs[job_id]

    def jobs(self) -> list[Job]:
        with self._cond:
            return list(self._jobs.values())

    def close(self, timeout: float = 30.0) -> None:
        """Cancel every job and stop the workers (the server is stopping)."""
        with self._cond:
            self._closed = True
            jobs = list(self._jobs.values())
            self._cond.notify_all()
        for job in jobs:
            job.cancel()
        for t in self._threads:
            t.join(timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._waiting or self._closed)
                if self._closed:
                    return
                job = self._waiting.popleft()
            job.run()

    def _forget_old(self) -> None:
        ended = [j for j in self._jobs.values() if j.state in TERMINAL]
        for job in ended[: max(0, len(ended) - self.keep)]:
            del self._jobs[job.id]
