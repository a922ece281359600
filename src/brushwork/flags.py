"""Command-line flags built from a frozen dataclass's fields (``help``, ``choices`` and ``flag``
in each field's metadata), so a flag's default is the field's and cannot drift from it. Values are
parsed leniently and judged by ``options.check_values``, the same check the library and presets use."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from . import options


def add_dataclass_flags(group, cls) -> None:
    """One ``--flag`` per field of ``cls``; each defaults to None ("not given") and shows the
    field's default in --help. Repeatable fields (metadata ``flag``) take one value each time."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = options.flag_of(f)
        default_text = "" if f.default in (None, ()) else f" (default: {show(f.default)})"
        if hints[f.name] is bool:
            # A switch that is on by default also gets --no-FLAG, which turns it off.
            action = argparse.BooleanOptionalAction if f.default else "store_true"
            group.add_argument(flag, dest=f.name, action=action, default=None, help=f.metadata["help"])
            continue
        if f.metadata.get("flag"):
            group.add_argument(
                flag, dest=f.name, action="append", default=None, metavar="VALUE", help=f.metadata["help"]
            )
            continue
        parse, metavar = _parser_for(hints[f.name])
        choices = f.metadata.get("choices")  # shown here, judged by options.check like every value
        if choices:
            metavar = "{" + ",".join(choices) + "}"
        group.add_argument(
            flag,
            dest=f.name,
            type=parse,
            default=None,
            metavar=metavar or f.name.split("_")[-1].upper(),
            help=f.metadata["help"] + default_text,
        )


def changes(ns: argparse.Namespace, cls) -> dict:
    """The fields of ``cls`` that the parsed flags ``ns`` give, held to the fields' types and bounds
    (``options.check_values``: a ``ConfigError`` naming the flag) and in their normal form."""
    given = {f.name: getattr(ns, f.name) for f in dataclasses.fields(cls) if getattr(ns, f.name, None) is not None}
    return options.check_values(cls, given)


def show(value) -> str:
    """A value as a flag's argument (tuples comma-separated)."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _parser_for(tp) -> tuple[typing.Callable[[str], object], str | None]:
    """(parse function, metavar) for a field's type."""
    tp, _ = options.unwrap(tp)
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        return (lambda s: tuple(_scalar(item, x.strip()) for x in s.split(",") if x.strip())), "A,B,…"
    return (lambda s: _scalar(tp, s)), None


def _scalar(tp, text: str):
    """The number ``text`` means (a float where a whole number is wanted, so the typed check can
    say so), or the text itself: ``options.check`` judges it and names the flag."""
    for parse in (tp, int, float) if tp in (int, float) else ():
        try:
            return parse(text)
        except ValueError:
            pass
    return text
