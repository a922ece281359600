"""The studio's jobs: one painting each, cancelling in every phase, and what the page is shown
(progress, an ETA, a preview made only when asked for, the finished PNG); ``workers.py`` queues
and runs them.

A waiting job holds only its uploads' 8-bit pixels; it makes its ``Painting`` when it starts. The
event streams and preview requests wait for a job's change on the event loop (``changed``), so
they hold no thread and cost nothing while nothing happens."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from .. import images
from ..config import Config
from ..engine import Painting
from ..events import Progress, png_params
from .uploads import new_id

TERMINAL = ("done", "cancelled", "failed")


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
        return {
            "content": self.content,
            "styles": list(self.styles),
            "names": list(self.names),
            "preset": self.preset,
            "options": dataclasses.asdict(self.config),
        }


class Job:
    """One painting. Its state changes only under ``_cond``; ``version`` counts the changes, and
    each change wakes whatever waits in ``changed`` (event streams, previews)."""

    def __init__(self, spec: Spec, make: Callable[[], Painting]):
        self.id, self.spec, self.created = new_id(), spec, time.time()
        self.state, self.version = "queued", 0
        self.error: str | None = None
        self._make: Callable[[], Painting] | None = make  # reads the inputs when the job starts
        self._painting: Painting | None = None
        self._event: Progress | None = None
        self._eta: float | None = None
        self._scale_start = (0, 0, 0.0)  # (scale, step, elapsed) where the running scale began
        self._image: Tensor | None = None  # the latest preview (None once the job has ended)
        self._image_step = 0
        self._jpeg: tuple[Tensor | None, bytes] | None = None  # (picture, its JPEG)
        self._png: bytes | None = None
        self._cancel = threading.Event()
        self._want_preview = False
        self._cond = threading.Condition()
        self._waiters: dict[asyncio.Future, asyncio.AbstractEventLoop] = {}

    # -- what the worker calls -------------------------------------------------------------
    def run(self) -> None:
        with self._cond:
            if self.state != "queued":
                return
            make, self._make = self._make, None
            assert make is not None  # only a job that leaves "queued" drops it
            self._set("running")
        painting, state, error = None, "done", None
        try:
            painting = make()
            with self._cond:
                self._painting = painting  # from now on cancel() reaches its setup too
                cancelled = self._cancel.is_set()
            for event in () if cancelled else painting:
                self._progress(event, painting)
                if self._cancel.is_set() and not event.done:
                    break
            if self._cancel.is_set() and not (self._event and self._event.done):
                state = "cancelled"
        except Exception as e:  # a failed job is shown, never takes the server down
            state, error = "failed", str(e) or type(e).__name__
        self._finish(state, error, painting.current_image() if painting is not None else None)

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
        left = 0.0
        plan = event.steps or (event.iterations,)  # an event that does not split its steps: one scale
        for k in range(scale, min(len(plan), len(event.sizes))):  # each scale's steps left, at its cost per step
            todo = plan[k] - (event.scale_step if k == scale else 0)
            left += todo * per_step * (event.sizes[k] / event.sizes[scale]) ** 2
        return max(0.0, left)

    def _finish(self, state: str, error: str | None, image: Tensor | None) -> None:
        png = jpeg = None
        ev = self._event
        if image is not None and self.state not in TERMINAL:
            params = png_params(self.spec.config, self.spec.names[0], self.spec.names[1:], ev, studio={"state": state})
            png, jpeg = images.encode(image, "PNG", params), images.encode(image, "JPEG")
        with self._cond:
            self._painting = None  # frees the inputs and the network's activations
            if self.state in TERMINAL:  # abandoned while it painted: the server is stopping
                return
            self._png, self.error, self._image = png, error, None
            self._jpeg = (None, jpeg) if jpeg else None
            self._image_step = ev.step if ev else 0
            self._event = dataclasses.replace(ev, image=None) if ev else None  # the picture is in the PNG
            self._eta = 0.0 if state == "done" else None
            self._set(state)

    # -- what the web handlers call ----------------------------------------------------------
    def cancel(self) -> None:
        """A queued job ends at once with no picture; a running one after its current step or
        phase of setup, keeping the best picture so far."""
        with self._cond:
            if self.state == "queued":
                self._make = None
                self._set("cancelled")
            elif self.state == "running":
                self._cancel.set()
                if self._painting is not None:
                    self._painting.stop()

    def abandon(self, reason: str) -> None:
        """End the job now, whatever its worker is doing (the server is stopping)."""
        self.cancel()
        with self._cond:
            if self.state not in TERMINAL:
                self._make, self.error = None, reason
                self._set("cancelled")

    async def changed(self, version: int, timeout: float | None = None) -> bool:
        """Until the job is no longer at ``version``; False if ``timeout`` passed first. Waits on
        the event loop: no thread is held, however many wait."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cond:
            if self.version != version:
                return True
            self._waiters[future] = loop
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._cond:
                self._waiters.pop(future, None)

    async def preview(self, timeout: float = 10.0) -> None:
        """Ask a running job that has made a step for its picture after the next one, and wait
        for it (on the event loop); ``jpeg()`` then has it. Before the first step there is none."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        with self._cond:
            if self.state != "running" or self._event is None:
                return
            self._want_preview, version = True, self.version
        while await self.changed(version, max(0.0, end - loop.time())):
            with self._cond:
                if not self._want_preview or self.state != "running":
                    return
                version = self.version

    def jpeg(self) -> tuple[bytes | None, int]:
        """(The latest picture as JPEG, its step); encoded once however many pages ask."""
        with self._cond:
            image, step, cached = self._image, self._image_step, self._jpeg
        if cached is not None and cached[0] is image:
            return cached[1], step
        if image is None:
            return None, step
        data = images.encode(image, "JPEG")
        with self._cond:
            self._jpeg = (image, data)
        return data, step

    @property
    def png(self) -> bytes | None:
        with self._cond:
            return self._png

    def snapshot(self) -> dict:
        with self._cond:
            ev = self._event
            return {
                "id": self.id,
                "state": self.state,
                "version": self.version,
                "error": self.error,
                "step": ev.step if ev else 0,
                "iterations": ev.iterations if ev else sum(self.spec.config.steps()),
                "scale": ev.scale if ev else 0,
                "size": ev.size if ev else None,
                "sizes": list(ev.sizes) if ev else self.spec.config.schedule(),
                "losses": dict(ev.losses) if ev else {},
                "elapsed": round(ev.elapsed, 3) if ev else 0.0,
                "eta": None if self._eta is None else round(self._eta, 1),
                "result": f"/api/jobs/{self.id}/result.png" if self._png else None,
                "created": self.created,
                "settings": self.spec.settings(),
            }

    def _set(self, state: str) -> None:
        self.state = state
        self.version += 1
        loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
        for future, loop in self._waiters.items():
            loops.setdefault(loop, []).append(future)
        self._waiters.clear()
        for loop, futures in loops.items():  # one wake-up of each loop, whatever the number of waiters
            with contextlib.suppress(RuntimeError):  # a loop that has closed
                loop.call_soon_threadsafe(_wake, futures)


def _wake(futures: list[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
