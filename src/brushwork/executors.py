"""Where a batch or a video's chunks run: this process, a local process pool, or Dask.

``--dask local:N`` starts a cluster of N worker processes on 127.0.0.1 (one thread each);
``--dask tcp://HOST:8786`` uses a running scheduler. Both hand back Dask's
``concurrent.futures`` executor, so ``stylize_many`` runs unchanged on either, or on a pool."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Iterator

from .config import ConfigError


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextlib.contextmanager
def executor(workers: int = 1, dask: str | None = None) -> Iterator[tuple[Executor | None, int | None]]:
    """(executor or None for this process, torch threads per worker or None to leave them)."""
    if dask:
        with _dask(dask) as pair:
            yield pair
        return
    if workers < 1:
        raise ConfigError(f"--workers must be 1 or more, not {workers}")
    if workers == 1:
        yield None, None
        return
    # spawn, not fork: a forked child of a process that already ran torch can deadlock in its
    # thread pools.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool, max(1, cores() // workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _dask(address: str):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("--dask needs Dask distributed: pip install 'brushwork[distributed]'") from None
    if address.startswith("local:"):
        n = address.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise ConfigError(f"--dask local:N needs a number of workers N ≥ 1, not {address!r}")
        n = int(n)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR)
        try:
            with Client(cluster) as client:
                yield client.get_executor(), max(1, cores() // n)
        finally:
            cluster.close()
        return
    if not address.startswith(("tcp://", "tls://")):
        raise ConfigError(f"--dask takes tcp://HOST:PORT, tls://HOST:PORT or local:N, not {address!r}")
    try:
        client = Client(address, timeout="15s")
    except OSError as e:
        raise ConfigError(f"cannot reach the Dask scheduler at {address} ({e})") from None
    with client:
        yield client.get_executor(), None
