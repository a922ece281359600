"""What every command shares: exit statuses, the one table that turns an error into its message
and exit status, SIGTERM handled as Ctrl-C, the progress bar, and the flags several commands take."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from .. import flags
from ..config import Config, ConfigError
from ..devices import DeviceError
from ..engine import DivergedError, OutOfMemory
from ..presets import load_preset
from ..presets import names as preset_names
from ..reading import ImageError
from ..videofile import VideoError
from ..weights import WeightsError
from ..writing import CannotWrite

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: keep the best picture and a checkpoint."""


def on_sigterm(signum, frame):
    raise Terminated()


# Each error a command may end with: (its types, what to say, or None for "error: " and the
# error's own message, exit status). The first row that matches wins. Bad input (options, files,
# a device or weights that cannot serve) is a usage error; what fails once the work has begun is 1.
ERRORS: tuple[tuple[tuple[type[BaseException], ...], str | None, int], ...] = (
    ((Terminated,), "terminated", EXIT_TERMINATED),
    ((KeyboardInterrupt,), "interrupted", EXIT_INTERRUPTED),
    ((ConfigError, ImageError, WeightsError, DeviceError, VideoError), None, EXIT_USAGE),
    ((OutOfMemory, DivergedError, CannotWrite), None, EXIT_FAILED),
)
HANDLED: tuple[type[BaseException], ...] = tuple(t for types, _, _ in ERRORS for t in types)
# What can end a command once its work has begun (not bad input): the picture so far is kept.
MID_WORK: tuple[type[BaseException], ...] = tuple(t for types, _, code in ERRORS if code != EXIT_USAGE for t in types)


def outcome(e: BaseException) -> tuple[str, int]:
    """What to tell the user of the error ``e`` that ended a command (after "brushwork: "), and
    the exit status, from ``ERRORS``."""
    for types, said, code in ERRORS:
        if isinstance(e, types):
            return said or f"error: {e}", code
    return f"error: {e}", EXIT_FAILED


class Parser(argparse.ArgumentParser):
    """Errors in one line, not the whole usage before it."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Bar:
    """A progress bar on stderr, or none when ``quiet``. ``say`` writes a line to stderr (above the
    bar, which stays at the bottom). Closed on leaving a ``with`` block."""

    def __init__(self, total: int | None, unit: str, quiet: bool):
        self._bar = None
        if not quiet:
            from tqdm import tqdm  # imported only where a bar is shown

            self._bar = tqdm(total=total, unit=unit, dynamic_ncols=True, file=sys.stderr)

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()

    def advance(self) -> None:
        """One more picture or frame done."""
        if self._bar is not None:
            self._bar.update(1)

    def show(self, step: int, total: int, postfix: dict) -> None:
        """At ``step`` of ``total``, ``postfix`` (the size, the losses) beside the bar."""
        if self._bar is not None:
            moved = self._bar.total != total  # a new run, or a scale that converged early
            self._bar.total = total
            self._bar.n = step
            self._bar.set_postfix(postfix, refresh=False)
            if moved:  # drawn now, not at tqdm's next redraw (0.1 s on): the total a user reads is never stale
                self._bar.refresh()
            else:
                self._bar.update(0)

    def say(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Config field; defaults come from the dataclass (shown in --help)."""
    group = parser.add_argument_group("painting options")
    group.add_argument(
        "--preset",
        default=None,
        metavar="NAME|FILE.toml",
        help=f"start from a preset ({', '.join(preset_names())}) or a TOML file; flags override it",
    )
    flags.add_dataclass_flags(group, Config)
    group.add_argument(
        "--original-colors", action="store_true", help="keep the content image's colours (alias of --color keep)"
    )


def config_from_args(ns: argparse.Namespace, base: Config | None = None) -> Config:
    """The Config the flags describe: every flag given overrides ``base`` (default: the preset
    named by ``--preset``, else ``Config()``)."""
    if base is None and getattr(ns, "preset", None):
        base = load_preset(ns.preset)
    given = flags.changes(ns, Config)
    if getattr(ns, "original_colors", False):
        if given.get("color", "keep") != "keep":
            raise ConfigError(f"--original-colors means --color keep; it cannot go with --color {given['color']}")
        given["color"] = "keep"
    return dataclasses.replace(base or Config(), **given)
