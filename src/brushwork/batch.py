"""Many pictures: ``stylize_many(jobs, executor)`` paints a list of jobs on any
``concurrent.futures.Executor`` (a process pool, Dask's ``client.get_executor()``) or in this
process. Each job is one picture written atomically to its own output, skipped when that exists,
so a rerun after a crash or Ctrl-C does only what is missing. An output's name comes from its
input alone (its name and a digest of its bytes and the settings), never from its place in the
list, so a rerun with the inputs in another order, or more of them, finds the same names. A
failed picture is reported in its ``Outcome`` and never stops the others. Workers keep the
network and the style targets in ``cache.py``'s caches, so each worker builds them once for the
whole batch."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import cache, executors, images, writing
from .config import Config, ConfigError
from .engine import DivergedError, OutOfMemory, stylize_iter
from .events import png_params
from .reading import ImageError

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


@dataclass(frozen=True)
class Job:
    content: str
    styles: tuple[str, ...]
    output: str
    config: Config
    threads: int | None = None  # torch threads in the worker (None: leave as is)
    rescue: bool = False  # if the output cannot be written when painted, keep the picture elsewhere


@dataclass(frozen=True)
class Outcome:
    job: Job
    status: str  # "done", "skipped" (the output existed), "failed" or "cancelled" (stopped, nothing written)
    error: str | None = None
    seconds: float = 0.0
    losses: dict = field(default_factory=dict)
    built: int = 0  # networks built by this task's worker for it (0 when reused from its cache)
    worker: int = 0  # the worker process's id


# Fields that change where or how often, not the picture: outputs keep their names across them.
FREE_FIELDS = ("device", "precision", "save_every")


def inputs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The pictures named: files as given, folders' image files (by suffix, sorted, not recursive)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in SUFFIXES)
        else:
            found.append(p)  # a missing file becomes that picture's failure, reported with the rest
    return found


def check_places(paths: Iterable[str | os.PathLike], outdir: str | os.PathLike) -> None:
    """Refuse an output folder that is an input, is inside an input folder, or holds an input:
    the batch would paint its own outputs again on every rerun."""
    out = Path(os.path.realpath(outdir))
    for p in map(Path, paths):
        real = Path(os.path.realpath(p))
        if real == out or (p.is_dir() and real in out.parents):
            raise ConfigError(f"-o {outdir} is inside the input folder {p}; give an output folder outside it")
        if out in real.parents:
            raise ConfigError(f"{p} is inside the output folder {outdir}; give an output folder apart from the inputs")


def settings_hash(styles: Sequence[str | os.PathLike], config: Config) -> str:
    """8 hex digits of the options and the style files' bytes: an output's name changes when
    anything that changes its picture does (not the device, nor how often pictures are saved)."""
    # β and the tolerance as in effect: a default and the same value given by hand paint the same picture.
    same = config.replace(**config.in_effect(), **{k: getattr(Config(), k) for k in FREE_FIELDS})
    h = hashlib.sha256(same.to_json().encode())
    for s in styles:
        h.update(_file_digest(s))
    return h.hexdigest()[:8]


def output_name(content: str | os.PathLike, tag: str) -> str:
    """``<stem>-<8 hex>.png``: the hex digits from the settings' ``tag`` and the input's bytes, so the
    name depends on the input alone, and two inputs of one name but other pictures never share it."""
    h = hashlib.sha256(tag.encode() + _file_digest(content))
    stem = os.fsencode(Path(content).stem)[:160].decode(errors="ignore")  # room for the rest under 255 bytes
    return f"{stem}-{h.hexdigest()[:8]}.png"


def _file_digest(path: str | os.PathLike) -> bytes:
    """The SHA-256 of a regular file's bytes; of its path when it is none (it then fails as a picture)."""
    try:
        if Path(path).is_file():
            with open(path, "rb") as f:
                return hashlib.file_digest(f, "sha256").digest()
    except OSError:
        pass
    return hashlib.sha256(os.fsencode(os.path.realpath(path))).digest()


def plan(
    contents: Sequence[str | os.PathLike],
    styles: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    config: Config,
    threads: int | None = None,
    rescue: bool = False,
) -> list[Job]:
    """One job per content picture, written to ``OUTDIR/<stem>-<hex>.png`` (``output_name``); an
    input whose output another input already has (the same picture again) is painted once."""
    tag, jobs, seen = settings_hash(styles, config), [], set()
    for c in map(Path, contents):
        output = str(Path(outdir) / output_name(c, tag))
        if output not in seen:
            seen.add(output)
            jobs.append(Job(str(c), tuple(map(str, styles)), output, config, threads, rescue))
    return jobs


def paint_one(job: Job) -> Outcome:
    """Paint one job (a top-level function, so any executor can send it to a worker)."""
    start, pid = time.perf_counter(), os.getpid()
    if executors.stopping():  # sent to the worker before the batch was stopped
        return Outcome(job, "cancelled", worker=pid)
    if Path(job.output).exists():
        return Outcome(job, "skipped", worker=pid)
    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    before = cache.NETWORKS.misses
    try:
        images.check_writable(job.output)
        event = None
        painting = stylize_iter(job.content, list(job.styles), job.config, image_every=0)
        for event in painting:  # noqa: B007 (the last event is used below)
            if executors.stopping():
                return Outcome(job, "cancelled", seconds=time.perf_counter() - start, worker=pid)
        error = _write(job, painting.current_image(), png_params(job.config, job.content, job.styles, event))
    except (ImageError, ConfigError, DivergedError, OutOfMemory, OSError) as e:
        why = str(writing.CannotWrite(job.output, e) if isinstance(e, OSError) else e)
        return Outcome(job, "failed", why, time.perf_counter() - start, worker=pid)
    if error is not None:
        return Outcome(job, "failed", error, time.perf_counter() - start, worker=pid)
    assert event is not None  # a painting yields at least one step
    return Outcome(
        job, "done", None, time.perf_counter() - start, dict(event.losses), cache.NETWORKS.misses - before, pid
    )


def _write(job: Job, image, params: dict) -> str | None:
    """Write the picture; None, or why it is not at its output (and where it is, with ``rescue``)."""
    if not job.rescue:
        images.save(image, job.output, params)
        return None
    where, error = images.save_or_rescue(image, job.output, params)
    if error is None:
        return None
    return f"{writing.CannotWrite(job.output, error)}; the picture is in {where}"


def stylize_many(jobs: Sequence[Job], executor: Executor | None = None) -> Generator[Outcome, None, None]:
    """Paint every job; yields one ``Outcome`` per job as each ends (in order without an
    executor, in order of finishing with one). Closing the iterator early cancels what has not
    started."""
    if executor is None:
        for job in jobs:
            yield paint_one(job)
        return
    futures = {executor.submit(paint_one, job): job for job in jobs}
    try:
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as e:  # the worker itself died (killed, out of memory)
                yield Outcome(futures[future], "failed", f"the worker failed: {type(e).__name__}: {e}")
    finally:
        for future in futures:
            future.cancel()
