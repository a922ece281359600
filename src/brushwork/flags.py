"""Command-line flags built from a frozen dataclass's fields (``help``, ``choices`` and ``flag``
in each field's metadata), so a flag's default is the field's and cannot drift from it."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing


def add_dataclass_flags(group, cls) -> None:
    """One ``--flag`` per field of ``cls``; each defaults to None ("not given") and shows the
    field's default in --help. Repeatable fields (metadata ``flag``) take one value each time."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + (f.metadata.get("flag") or f.name.replace("_", "-"))
        default_text = "" if f.default in (None, ()) else f" (default: {show(f.default)})"
        if hints[f.name] is bool:
            group.add_argument(flag, dest=f.name, action="store_true", default=None, help=f.metadata["help"])
            continue
        if f.metadata.get("flag"):
            group.add_argument(flag, dest=f.name, action="append", default=None, metavar="VALUE",
                               help=f.metadata["help"])
            continue
        parse, metavar = _parser_for(hints[f.name])
        choices = f.metadata.get("choices")
        if choices:
            metavar = "{" + ",".join(choices) + "}"
        group.add_argument(flag, dest=f.name, type=parse, default=None,
                           metavar=metavar or f.name.split("_")[-1].upper(), choices=choices,
                           help=f.metadata["help"] + default_text)


def changes(ns: argparse.Namespace, cls) -> dict:
    """The fields of ``cls`` that the parsed flags ``ns`` give (lists as tuples)."""
    given = {f.name: getattr(ns, f.name) for f in dataclasses.fields(cls) if getattr(ns, f.name, None) is not None}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}


def show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _parser_for(tp) -> tuple[typing.Callable[[str], object], str | None]:
    """(parse function, metavar) for a field's type."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        tp = args[0]
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        return (lambda s: tuple(_scalar(item, x.strip()) for x in s.split(",") if x.strip())), "A,B,…"
    return (lambda s: _scalar(tp, s)), None


def _scalar(tp, text: str):
    try:
        return tp(text)
    except ValueError:
        kind = {int: "a whole number", float: "a number"}.get(tp, tp.__name__)
        raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
