"""The ``brushwork`` command: ``paint``, ``demo``, ``batch``, ``video``, ``serve`` and ``info``,
after pypa/build's command line: ``main(argv)`` returns the exit status, each command family has
its module (``paint``, ``many``, ``serve``) and ``common.ERRORS`` is the one table that turns an
error into its message and exit status. Painting flags are built from ``Config``."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence

from .._version import __version__
from .common import HANDLED, Parser, config_from_args, on_sigterm, outcome
from .many import add_batch, add_video
from .paint import add_demo, add_info, add_paint
from .serve import add_serve

__all__ = ["build_parser", "config_from_args", "main"]


def build_parser() -> Parser:
    """Every command's parser; each sets ``run``, the function that carries it out (-> exit status)."""
    parser = Parser(prog="brushwork", description="Neural style transfer (Gatys et al.).")
    parser.add_argument("--version", action="version", version=f"brushwork {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_paint, add_demo, add_serve, add_batch, add_video, add_info):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` (default: the process's arguments) gives; its exit status. An
    error ``common.ERRORS`` names is one line on stderr, never a traceback."""
    ns = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return ns.run(ns)
    except HANDLED as e:  # while checking the inputs, or a failure no command kept work from
        what, code = outcome(e)
        print(f"brushwork: {what}", file=sys.stderr)
        return code
