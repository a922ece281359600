"""Helpers for the tests that start brushwork in a child process and signal it (test_batch, test_faults)."""

from __future__ import annotations

import signal
import time


def interactive() -> None:
    """A shell starts background jobs with SIGINT ignored, and Python then keeps ignoring it: give the
    child the default disposition, as a program started at a terminal has, so Ctrl-C reaches it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(path, proc, seconds: float = 300) -> None:
    """Until ``path`` exists; fails if ``proc`` ends first (with its stderr, if piped) or after ``seconds``
    (generous: a loaded 2-core machine starts slowly; this guards against a hang, it sets no pace)."""
    deadline = time.time() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended first: {proc.stderr.read() if proc.stderr else ''}")
        assert time.time() < deadline, f"{path} did not appear within {seconds} s"
        time.sleep(0.05)
