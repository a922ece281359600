"""The studio's web server: FastAPI routes over the upload store and the job queue.

Every request passes ``guard.Guard`` first. Bodies are read with a byte cap before anything is
parsed; pictures are decoded a few at a time and shrunk on arrival; a job is checked by its schema,
then for room in the queue, then by the engine on its inputs; JSON never carries a non-finite
number; event streams and previews wait for a job's change on the event loop, holding no thread;
and stopping ends every job, so every open stream gets its last event. The page comes from
``static/`` with nothing loaded from outside the machine."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import threading
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from .. import images
from ..config import STYLE_WEIGHTS, Config, ConfigError
from ..engine import Painting, stylize_iter
from ..events import finite
from ..presets import describe, load_preset
from ..presets import names as preset_names
from .errors import Refused, too_big
from .guard import Guard
from .jobs import TERMINAL, Job, Spec
from .schema import MAX_SCALES, Checker
from .settings import Settings
from .uploads import CLIENT_COOKIE, Upload, UploadStore, clean_name, client_of, new_id
from .workers import JobQueue, QueueFull

STATIC = Path(__file__).parent / "static"
MAX_JOB_BYTES = 64 * 2**10  # a job's JSON; a real one is well under 2 KiB
JOB_TOO_BIG = functools.partial(too_big, "the job", cap=f"{MAX_JOB_BYTES // 2**10} KiB")
UPLOADS_AT_ONCE = 4  # upload bodies held at once; more wait their turn, holding nothing
DECODES = 2  # pictures decoded, or jobs' inputs read, at once (CPU work: the rest wait)
ENCODES = 2  # preview JPEGs encoded at once, on the thread pool
KEEPALIVE = 15.0  # seconds of quiet before an event stream sends a comment (proxies close idle ones)
STOP_GRACE = 0.5  # seconds a running job has to end its step when the studio stops
STREAMS_WAIT = 1.0  # seconds the open event streams then have to send their last event and close


class StrictJSON(JSONResponse):
    """JSON with every number that is not finite as null: never a bare NaN a browser rejects."""

    def render(self, content) -> bytes:
        return _json(content).encode()


def _json(content) -> str:
    return json.dumps(finite(content), allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def create_app(settings: Settings | None = None) -> FastAPI:
    """The studio's web application (its ``state`` holds the settings, uploads, queue and ``stop``)."""
    return Studio(settings or Settings()).app


class Studio:
    """The studio: the upload store, the job queue (started on first use, so importing or testing
    the app costs no threads), the limits on work at once, and one named handler per route."""

    def __init__(self, settings: Settings):
        self.settings, self.checker = settings, Checker(settings)
        self.uploads = UploadStore(settings.max_bytes, settings.max_pixels, settings.max_size)
        self._starting = threading.Lock()
        self._receiving, self._decoding, self._encoding = (
            asyncio.Semaphore(n) for n in (UPLOADS_AT_ONCE, DECODES, ENCODES)
        )
        self._streams = _Streams()
        self.app = app = FastAPI(
            title="brushwork studio",
            lifespan=self._lifespan,
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
            default_response_class=StrictJSON,
        )
        app.state.settings, app.state.uploads, app.state.queue, app.state.stop = settings, self.uploads, None, self.stop
        app.add_middleware(Guard, hosts=settings.hosts(), origins=settings.origins())
        # Starlette types a handler as taking any Exception; it calls each only with its own class.
        app.add_exception_handler(Refused, self.refused)  # type: ignore[arg-type]
        app.add_exception_handler(QueueFull, self.busy)  # type: ignore[arg-type]
        get = functools.partial(app.add_api_route, methods=["GET", "HEAD"])
        get("/", self.index, include_in_schema=False)
        get("/api/presets", self.presets)
        app.add_api_route("/api/uploads", self.upload, methods=["POST"], status_code=201)
        get("/api/uploads/{upload_id}/thumbnail", self.thumbnail)
        app.add_api_route("/api/jobs", self.submit, methods=["POST"], status_code=201)
        get("/api/jobs", self.gallery)
        get("/api/jobs/{job_id}", self.state)
        app.add_api_route("/api/jobs/{job_id}", self.cancel, methods=["DELETE"], status_code=202)
        get("/api/jobs/{job_id}/events", self.events)
        get("/api/jobs/{job_id}/preview", self.preview)
        get("/api/jobs/{job_id}/result.png", self.result)
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- the studio's life -------------------------------------------------------------------
    async def stop(self) -> None:
        """The studio is stopping: every job ends (running ones within STOP_GRACE), and with it
        every event stream, after its last event."""
        if self.app.state.queue is not None:
            await run_in_threadpool(self.app.state.queue.close, STOP_GRACE)
        # Not a guess at how long that takes: each stream says when it has sent its last event.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._streams.idle(), STREAMS_WAIT)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: FastAPI):
        yield
        await self.stop()

    def jobs(self) -> JobQueue:
        with self._starting:
            if self.app.state.queue is None:
                self.app.state.queue = JobQueue(self.settings.workers, self.settings.queue)
            return self.app.state.queue

    def job(self, job_id: str) -> Job:
        try:
            return self.jobs().get(job_id)
        except KeyError:
            raise Refused(404, "no such job (the studio keeps jobs until it stops)") from None

    async def refused(self, request: Request, e: Refused) -> StrictJSON:
        return StrictJSON({"detail": str(e)}, status_code=e.status)

    async def busy(self, request: Request, e: QueueFull) -> StrictJSON:
        return StrictJSON({"detail": str(e)}, status_code=429)

    # -- the page, presets and uploads -------------------------------------------------------
    async def index(self, request: Request):
        response = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
        if not client_of(request.cookies.get(CLIENT_COOKIE)):  # who the page is, for the upload quota
            response.set_cookie(CLIENT_COOKIE, new_id(), httponly=True, samesite="strict")
        return response

    async def presets(self):
        s = self.settings
        described = {
            name: {"description": describe(name), "options": dataclasses.asdict(load_preset(name))}
            for name in preset_names()
        }
        limits = {
            "max_size": s.max_size,
            "max_iterations": s.max_iterations,
            "max_styles": s.max_styles,
            "max_scales": MAX_SCALES,
            "max_upload_bytes": s.max_bytes,
            "max_pixels": s.max_pixels,
        }
        # style_weights: each style loss's own β, where the page puts the slider when the loss changes.
        return {
            "defaults": dataclasses.asdict(Config()),
            "presets": described,
            "limits": limits,
            "style_weights": STYLE_WEIGHTS,
        }

    async def upload(self, request: Request, name: str = "upload"):
        async with self._receiving:
            data = await _body(request, self.uploads.max_bytes, functools.partial(self.uploads.too_big, name))
            if not data:
                raise Refused(422, f"{clean_name(name)}: the upload is empty")
            client = client_of(request.cookies.get(CLIENT_COOKIE))
            async with self._decoding:
                found = await run_in_threadpool(self.uploads.add, data, name, client)
        return found.info()

    async def thumbnail(self, upload_id: str):
        try:
            return Response(self.uploads.get(upload_id).thumbnail, media_type="image/jpeg")
        except KeyError:
            raise Refused(404, "no such upload") from None

    # -- jobs --------------------------------------------------------------------------------
    async def submit(self, request: Request):
        order = self.checker.parse(await _body(request, MAX_JOB_BYTES, JOB_TOO_BIG))
        queue = self.jobs()
        queue.check_room()  # a full queue answers before any picture is touched
        found = _uploads(order, self.uploads)
        config = self.checker.config(order)
        make = functools.partial(_painting, found[0], found[1:], config)
        async with self._decoding:  # the engine checks the inputs now; the job reads them again when it starts
            try:
                await run_in_threadpool(make)
            except (ConfigError, images.ImageError) as e:
                raise Refused(422, str(e)) from None
        spec = Spec(found[0].id, tuple(u.id for u in found[1:]), tuple(u.name for u in found), config, order.preset)
        return queue.submit(spec, make).snapshot()

    async def gallery(self):
        return [j.snapshot() for j in reversed(self.jobs().jobs())]

    async def state(self, job_id: str):
        return self.job(job_id).snapshot()

    async def cancel(self, job_id: str):
        j = self.job(job_id)
        j.cancel()
        return j.snapshot()

    async def events(self, job_id: str, request: Request):
        j = self.job(job_id)
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        if request.method == "HEAD":
            return Response(media_type="text/event-stream", headers=headers)
        return StreamingResponse(self._streams.follow(j), media_type="text/event-stream", headers=headers)

    async def preview(self, job_id: str):
        j = self.job(job_id)
        await j.preview()
        async with self._encoding:
            data, step = await run_in_threadpool(j.jpeg)
        if data is None:
            raise Refused(409, "no picture yet: the job has not made its first step")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store", "X-Step": str(step)})

    async def result(self, job_id: str):
        png = self.job(job_id).png
        if png is None:
            raise Refused(404, "this job has no picture (yet)")
        return Response(
            png,
            media_type="image/png",
            headers={"Content-Disposition": f'attachment; filename="brushwork-{job_id[:8]}.png"'},
        )


class _Streams:
    """The open event streams, so that a stopping studio can wait until each has sent its last event."""

    def __init__(self):
        self.open = 0
        self._none = asyncio.Event()
        self._none.set()

    async def idle(self) -> None:
        await self._none.wait()

    async def follow(self, job: Job):
        """Server-sent events: the job's snapshot now and after each change, until it has ended."""
        self.open += 1
        self._none.clear()
        try:
            while True:
                snap = job.snapshot()
                yield f"event: progress\ndata: {_json(snap)}\n\n"
                if snap["state"] in TERMINAL:
                    return
                while not await job.changed(snap["version"], KEEPALIVE):
                    yield ": still here\n\n"
        finally:
            self.open -= 1
            if not self.open:
                self._none.set()


async def _body(request: Request, limit: int, refuse) -> bytes:
    """The request's body, refused with ``refuse(size)`` as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise refuse(declared)
    data, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise refuse(None)
        data.append(chunk)
    return b"".join(data)


def _uploads(order, uploads: UploadStore) -> list[Upload]:
    try:
        return [uploads.get(i) for i in [order.content, *order.styles]]
    except KeyError:
        raise Refused(422, "an upload of this job is unknown or expired; upload the pictures again") from None


def _painting(content: Upload, styles: list[Upload], config: Config) -> Painting:
    return stylize_iter(content.tensor(), [s.tensor() for s in styles], config)
