"""The studio's job queue: jobs in order of arrival, painted by worker threads, at most ``limit``
waiting or running; stopping it ends every job, waiting for none longer than a grace period."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from ..engine import Painting
from .jobs import TERMINAL, Job, Spec

WORKER = "brushwork-worker"  # the worker threads' names begin so


class QueueFull(Exception):
    """The queue holds as many jobs as it may; the page is told to try later (429)."""


class JobQueue:
    """Jobs in order of arrival, run by ``workers`` threads. At most ``limit`` jobs wait or
    run at once; ended jobs stay listed (the gallery) up to ``keep`` of them."""

    def __init__(self, workers: int = 1, limit: int = 8, keep: int = 50):
        self.limit, self.keep = limit, keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._waiting: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{WORKER}-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, spec: Spec, make: Callable[[], Painting]) -> Job:
        """Queue a job whose ``make()`` gives its Painting when it starts, or raise QueueFull."""
        with self._cond:
            self._check_room()
            job = Job(spec, make)
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._forget_old()
            self._cond.notify()
            return job

    def check_room(self) -> None:
        """QueueFull unless a job may be queued now (asked before a job's inputs are read)."""
        with self._cond:
            self._check_room()

    def _check_room(self) -> None:
        if self._closed:
            raise QueueFull("the studio is stopping")
        active = sum(j.state not in TERMINAL for j in self._jobs.values())
        if active >= self.limit:
            raise QueueFull(
                f"the studio is busy: {active} jobs are waiting or running (at most {self.limit}); "
                f"try again when one has finished"
            )

    def get(self, job_id: str) -> Job:
        with self._cond:
            return self._jobs[job_id]

    def jobs(self) -> list[Job]:
        with self._cond:
            return list(self._jobs.values())

    def close(self, grace: float = 1.0) -> None:
        """Cancel every job and stop the workers (the server is stopping). A job still painting
        after ``grace`` seconds ends without waiting for its step; its worker, a daemon thread,
        goes with the process."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            jobs = list(self._jobs.values())
            self._cond.notify_all()
        for job in jobs:
            job.cancel()
        end = time.monotonic() + grace
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))
        for job in jobs:
            job.abandon("the studio stopped")

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
