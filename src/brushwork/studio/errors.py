"""The one error a studio handler raises to refuse a request: its HTTP status and a sentence for
the page (naming the field or file at fault), never a traceback."""

from __future__ import annotations


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def too_big(what: str, size: int | str | None, cap: str) -> Refused:
    """The 413 for a body over its cap: ``size`` when it was declared, None when it streamed in."""
    more = f"{size} bytes is more" if size is not None else "more"
    return Refused(413, f"{what}: {more} than the studio takes ({cap})")
