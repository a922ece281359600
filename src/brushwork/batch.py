"""Many pictures: ``stylize_many(jobs, executor)`` paints a list of jobs on any
``concurrent.futures.Executor`` (a process pool, Dask's ``client.get_executor()``) or in this
process. Each job is one picture written atomically to its own output, skipped when that exists,
so a rerun after a crash or Ctrl-C does only what is missing. A failed picture is reported in its
``Outcome`` and never stops the others. Workers keep the network and the style targets in
``cache.py``'s caches, so each worker builds them once for the whole batch."""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from . import cache, images
from .config import Config, ConfigError
from .engine import DivergedError, OutOfMemory, stylize
from .events import run_params
from .reading import ImageError

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


@dataclass(frozen=True)
class Job:
    content: str
    styles: tuple[str, ...]
    output: str
    config: Config
    threads: int | None = None  # torch threads in the worker (None: leave as is)


@dataclass(frozen=True)
class Outcome:
    job: Job
    status: str  # "done", "skipped" (the output existed) or "failed"
    error: str | None = None
    seconds: float = 0.0
    losses: dict = field(default_factory=dict)
    built: int = 0  # networks built by this task's worker for it (0 when reused from its cache)
    worker: int = 0  # the worker process's id


def inputs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The pictures named: files as given, folders' image files (by suffix, sorted, not recursive)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in SUFFIXES)
        else:
            found.append(p)  # a missing file becomes that picture's failure, reported with the rest
    return found


def settings_hash(styles: Sequence[str | os.PathLike], config: Config) -> str:
    """8 hex digits of the options and the style files' bytes: an output's name changes when
    anything that changes its picture does (not the device)."""
    h = hashlib.sha256(config.replace(device="auto", precision="auto").to_json().encode())
    for s in styles:
        try:
            h.update(hashlib.sha256(Path(s).read_bytes()).digest())
        except OSError:
            h.update(str(s).encode())
    return h.hexdigest()[:8]


def plan(contents: Sequence[str | os.PathLike], styles: Sequence[str | os.PathLike], outdir: str | os.PathLike,
         config: Config, threads: int | None = None) -> list[Job]:
    """One job per content picture, written to ``OUTDIR/<stem>-<settings hash>.png`` (a second
    input with the same stem gets ``<stem>-2-…``)."""
    tag, seen, jobs = settings_hash(styles, config), {}, []
    for c in map(Path, contents):
        n = seen[c.stem] = seen.get(c.stem, 0) + 1
        name = f"{c.stem}-{tag}.png" if n == 1 else f"{c.stem}-{n}-{tag}.png"
        jobs.append(Job(str(c), tuple(map(str, styles)), str(Path(outdir) / name), config, threads))
    return jobs


def paint_one(job: Job) -> Outcome:
    """Paint one job (a top-level function, so any executor can send it to a worker)."""
    start, pid = time.perf_counter(), os.getpid()
    if Path(job.output).exists():
        return Outcome(job, "skipped", worker=pid)
    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    before = cache.NETWORKS.misses
    try:
        images.check_writable(job.output)
        result = stylize(job.content, list(job.styles), job.config)
        params = {"content": job.content, "styles": list(job.styles), **run_params(job.config),
                  "step": result.steps, "losses": dict(result.losses)}
        result.save(job.output, params)
    except (ImageError, ConfigError, DivergedError, OutOfMemory, OSError) as e:
        return Outcome(job, "failed", str(e), time.perf_counter() - start, worker=pid)
    return Outcome(job, "done", None, time.perf_counter() - start, dict(result.losses),
                   cache.NETWORKS.misses - before, pid)


def stylize_many(jobs: Sequence[Job], executor: Executor | None = None) -> Iterator[Outcome]:
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
