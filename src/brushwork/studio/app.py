"""The studio's web server: FastAPI routes over the upload store and the job queue.

Every request's Host must be one the studio serves (DNS rebinding), a state-changing request from
another origin is refused, uploads are read with a byte cap before anything is decoded, and the
page comes from ``static/`` with nothing loaded from outside the machine."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from .. import images
from ..config import Config, ConfigError
from ..engine import stylize_iter
from ..presets import describe, load_preset, names as preset_names
from .jobs import TERMINAL, Job, JobQueue, QueueFull, Spec
from .settings import Settings
from .uploads import UploadError, UploadStore

STATIC = Path(__file__).parent / "static"
# Options a page may not set: files on the server (weights, init images, masks), where to
# compute (the server's --device) and intermediate files.
SERVER_ONLY = ("weights", "weights_format", "device", "style_masks", "save_every")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'"}


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    uploads = UploadStore(settings.max_bytes, settings.max_pixels)
    starting = threading.Lock()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        if app.state.queue is not None:
            await run_in_threadpool(app.state.queue.close)

    app = FastAPI(title="brushwork studio", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings, app.state.uploads, app.state.queue = settings, uploads, None
    hosts = settings.hosts()

    def jobs() -> JobQueue:  # started on first use, so importing or testing the app costs no threads
        with starting:  # the preview handler runs on a thread of its own
            if app.state.queue is None:
                app.state.queue = JobQueue(settings.workers, settings.queue)
            return app.state.queue

    def job(job_id: str) -> Job:
        try:
            return jobs().get(job_id)
        except KeyError:
            raise Refused(404, "no such job (the studio keeps jobs until it stops)") from None

    @app.middleware("http")
    async def guard(request: Request, call_next):
        host = request.headers.get("host", "")
        if host not in hosts:
            return JSONResponse({"detail": f"this studio does not answer to host {host!r}"}, status_code=400)
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD") and origin and urlsplit(origin).netloc not in hosts:
            return JSONResponse({"detail": f"requests from {origin} are not accepted"}, status_code=403)
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(Refused)
    @app.exception_handler(UploadError)
    async def refused(request: Request, e):
        return JSONResponse({"detail": str(e)}, status_code=e.status)

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/presets")
    async def presets():
        described = {name: {"description": describe(name), "options": dataclasses.asdict(load_preset(name))}
                     for name in preset_names()}
        limits = {"max_size": settings.max_size, "max_iterations": settings.max_iterations,
                  "max_upload_bytes": settings.max_bytes, "max_pixels": settings.max_pixels}
        return {"defaults": dataclasses.asdict(Config()), "presets": described, "limits": limits}

    @app.post("/api/uploads", status_code=201)
    async def upload(request: Request, name: str = "upload"):
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > uploads.max_bytes:
            raise uploads.too_big(name, declared)
        data, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > uploads.max_bytes:
                raise uploads.too_big(name)
            data.append(chunk)
        if not size:
            raise UploadError(422, f"{name}: the upload is empty")
        return (await run_in_threadpool(uploads.add, b"".join(data), name)).info()

    @app.get("/api/uploads/{upload_id}/thumbnail")
    async def thumbnail(upload_id: str):
        try:
            return Response(uploads.get(upload_id).thumbnail, media_type="image/jpeg")
        except KeyError:
            raise Refused(404, "no such upload") from None

    @app.post("/api/jobs", status_code=201)
    async def submit(request: Request):
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Refused(422, "the job must be a JSON object") from None
        spec, content, styles = await run_in_threadpool(_spec, body, uploads, settings)
        try:
            painting = await run_in_threadpool(stylize_iter, content, styles, spec.config)
        except (ConfigError, images.ImageError) as e:
            raise Refused(422, str(e)) from None
        try:
            return jobs().submit(spec, painting).snapshot()
        except QueueFull as e:
            raise Refused(429, str(e)) from None

    @app.get("/api/jobs")
    async def gallery():
        return [j.snapshot() for j in reversed(jobs().jobs())]

    @app.get("/api/jobs/{job_id}")
    async def state(job_id: str):
        return job(job_id).snapshot()

    @app.delete("/api/jobs/{job_id}", status_code=202)
    async def cancel(job_id: str):
        j = job(job_id)
        j.cancel()
        return j.snapshot()

    @app.get("/api/jobs/{job_id}/events")
    async def events(job_id: str, request: Request):
        j = job(job_id)

        async def stream():
            seen, quiet = -1, 0.0
            while True:
                snap = j.snapshot()
                if snap["version"] != seen:
                    seen, quiet = snap["version"], 0.0
                    yield f"event: progress\ndata: {json.dumps(snap)}\n\n"
                elif quiet >= 15.0:  # a comment keeps proxies from closing an idle stream
                    quiet = 0.0
                    yield ": still here\n\n"
                if snap["state"] in TERMINAL or await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)
                quiet += 0.1

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/api/jobs/{job_id}/preview")
    def preview(job_id: str):  # a plain def: FastAPI runs it in a thread while it waits for the step
        image, step = job(job_id).preview()
        if image is None:
            raise Refused(409, "no picture yet: the job has not made its first step")
        return Response(images.encode(image, "JPEG"), media_type="image/jpeg",
                        headers={"Cache-Control": "no-store", "X-Step": str(step)})

    @app.get("/api/jobs/{job_id}/result.png")
    async def result(job_id: str):
        png = job(job_id).png
        if png is None:
            raise Refused(404, "this job has no picture (yet)")
        return Response(png, media_type="image/png",
                        headers={"Content-Disposition": f'attachment; filename="brushwork-{job_id[:8]}.png"'})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _spec(body, uploads: UploadStore, settings: Settings):
    """(Spec, content pixels, style pixels) from a job's JSON, or ``Refused(422)`` naming the problem."""
    if not isinstance(body, dict):
        raise Refused(422, "the job must be a JSON object")
    styles = body.get("styles") or []
    if not isinstance(body.get("content"), str) or not isinstance(styles, list) or not styles:
        raise Refused(422, "a job needs a content upload id and a list of at least one style upload id")
    try:
        found = [uploads.get(i) for i in [body["content"], *styles]]
    except (KeyError, TypeError):
        raise Refused(422, "an upload of this job is unknown or expired; upload the pictures again") from None
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise Refused(422, "options must be an object of option names and values")
    given = {k.replace("-", "_") for k in options}
    if given & set(SERVER_ONLY):
        raise Refused(422, f"the studio sets these options itself: {', '.join(sorted(given & set(SERVER_ONLY)))}")
    if options.get("init", "content") not in ("content", "noise"):
        raise Refused(422, "init must be 'content' or 'noise' in the studio")
    if body.get("blend") is not None:
        options = {**options, "style_blend_weights": body["blend"]}
    preset = body.get("preset") or None
    try:
        if preset and preset not in preset_names():  # never a path: the page cannot read server files
            raise ConfigError(f"unknown preset {preset!r}; the studio has {', '.join(preset_names())}")
        base = load_preset(preset) if preset else Config()
        config = Config.from_dict(options, base=base).replace(device=settings.device)
        config.blend(len(styles))
    except (ConfigError, TypeError, ValueError) as e:
        raise Refused(422, str(e)) from None
    if config.size > settings.max_size or config.iterations > settings.max_iterations:
        raise Refused(422, f"size {config.size} / iterations {config.iterations}: the studio paints at most "
                           f"{settings.max_size} px and {settings.max_iterations} steps per scale")
    spec = Spec(found[0].id, tuple(u.id for u in found[1:]), tuple(u.name for u in found), config, preset)
    return spec, found[0].tensor(), [u.tensor() for u in found[1:]]
