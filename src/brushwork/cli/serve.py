"""``serve``: the web studio, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import sys

from .. import flags, studio
from ..config import ConfigError
from .common import EXIT_OK, outcome


def add_serve(sub) -> None:
    serve = sub.add_parser("serve", help="start the web studio: a page to paint in, with a live preview")
    flags.add_dataclass_flags(serve.add_argument_group("studio options"), studio.Settings)
    serve.set_defaults(run=lambda ns: run_serve(studio.Settings(**flags.changes(ns, studio.Settings))))


def run_serve(settings: studio.Settings) -> int:
    try:
        sock = studio.listen(settings)
    except OSError as e:
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port} ({e.strerror or e})") from None
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"brushwork studio: http://{host}:{settings.port}/  (Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        studio.serve(settings, sock)
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM, raised again once the studio has stopped
        what, code = outcome(e)
        print(f"brushwork: {what}", file=sys.stderr, flush=True)
        # Now, skipping the interpreter's cleanup: the studio has nothing left to save, torch's
        # cleanup takes seconds, and it would abort on a step the studio could not wait for.
        os._exit(code)
    return EXIT_OK
