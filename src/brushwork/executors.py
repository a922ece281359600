"""Where a batch or a video's chunks run: this process, a local process pool, or Dask.

``--dask local:N`` starts a cluster of N worker processes on 127.0.0.1 (one thread each);
``--dask tcp://HOST:8786`` uses a running scheduler. Both hand back Dask's
``concurrent.futures`` executor, so ``stylize_many`` runs unchanged on either, or on a pool.

Stopping (Ctrl-C, SIGTERM): a pool's workers ignore SIGINT, which a terminal sends to the whole
process group, so only the parent decides. It cancels what has not started and sets the pool's
stop flag (``stop``), which a running task reads between steps (``stopping``) to end at once
without writing anything; the pool then shuts down with nothing left running. A local Dask
cluster is closed, its workers with it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor

from .config import ConfigError

_STOP = None  # in a pool's worker: the pool's stop flag (a multiprocessing Event)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def check(workers: int = 1, dask: str | None = None) -> None:
    """Refuse a bad ``--workers`` or ``--dask`` before anything is made (the executor's own checks)."""
    if dask:
        _local_workers(dask)
        if not dask.startswith(("local:", "tcp://", "tls://")):
            raise ConfigError(f"--dask takes tcp://HOST:PORT, tls://HOST:PORT or local:N, not {dask!r}")
        _import_distributed()
    elif workers < 1:
        raise ConfigError(f"--workers must be 1 or more, not {workers}")


def capacity(pool: Executor | None) -> int:
    """How many tasks ``pool`` runs at once (1 for this process): the chunks a video keeps in flight."""
    return getattr(pool, "capacity", 1) if pool is not None else 1


def stopping() -> bool:
    """In a task: whether the pool running it was told to stop (then end now, writing nothing)."""
    return _STOP is not None and _STOP.is_set()


def stop(pool: Executor | None) -> None:
    """Tell the tasks running on ``pool`` to stop (a no-op for this process and Dask)."""
    flag = getattr(pool, "stop_flag", None)
    if flag is not None:
        flag.set()


class _Pool(ProcessPoolExecutor):
    """A process pool whose workers ignore SIGINT from their first instruction: they are started
    (in ``submit``) while this process ignores it, and inherit that."""

    def __init__(self, workers: int):
        ctx = multiprocessing.get_context("spawn")
        self.stop_flag, self.capacity = ctx.Event(), workers
        super().__init__(max_workers=workers, mp_context=ctx, initializer=_worker_start, initargs=(self.stop_flag,))

    def submit(self, fn, /, *args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            return super().submit(fn, *args, **kwargs)
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            signal.signal(signal.SIGINT, old)


def _worker_start(flag) -> None:
    global _STOP
    _STOP = flag
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def executor(workers: int = 1, dask: str | None = None) -> Iterator[tuple[Executor | None, int | None]]:
    """(executor or None for this process, torch threads per worker or None to leave them)."""
    check(workers, dask)
    if dask:
        with _dask(dask) as pair:
            yield pair
        return
    if workers == 1:
        yield None, None
        return
    # spawn, not fork: a forked child of a process that already ran torch can deadlock in its
    # thread pools.
    pool = _Pool(workers)
    try:
        yield pool, max(1, cores() // workers)
    except BaseException:
        pool.stop_flag.set()  # running tasks end at their next step; the shutdown below waits for that
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _local_workers(address: str | None) -> int:
    if not address or not address.startswith("local:"):
        return 0
    n = address.split(":", 1)[1]
    if not n.isdigit() or int(n) < 1:
        raise ConfigError(f"--dask local:N needs a number of workers N ≥ 1, not {address!r}")
    return int(n)


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError("--dask needs Dask distributed: pip install 'brushwork[distributed]'") from None
    return distributed


@contextlib.contextmanager
def _dask(address: str):
    distributed = _import_distributed()
    n = _local_workers(address)
    if n:
        cluster = distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        try:
            with distributed.Client(cluster) as client:
                yield _counted(client), max(1, cores() // n)
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(address, timeout="15s")
    except OSError as e:
        raise ConfigError(f"cannot reach the Dask scheduler at {address} ({e})") from None
    with client:
        yield _counted(client), None


def _counted(client) -> Executor:
    """The client's executor, knowing how many tasks the cluster runs at once."""
    ex = client.get_executor()
    ex.capacity = max(1, sum(client.nthreads().values()))
    return ex
