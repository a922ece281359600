"""Typed options for frozen dataclasses (``Config``, ``VideoOptions``, the studio's ``Settings``).

``option()`` declares a field with what the CLI and the studio need to know of it: its help,
its choices, its flag's name when that differs from the field's, and its bounds (``ge``, ``le``,
``gt``, as pydantic names them). ``check(obj)`` holds every field to its type annotation and
those bounds, so the CLI, TOML presets, the studio and the library all end in the same check,
and a field added later is checked without a line more. Its messages name the option as a flag:
``--seed must be a whole number, not 1.5``.

The rules: a bool is only ``True`` or ``False`` (not 1, not "no"); a whole number is an int, not
a bool; a number may be an int or a float, finite; text is a str; a tuple field takes a tuple or
a list (stored as a tuple) of items that each follow the item's rule and the field's bounds.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from typing import Any


class ConfigError(ValueError):
    """An option with a value brushwork cannot use."""


def option(
    default: Any,
    help: str,
    choices: tuple | None = None,
    flag: str | None = None,
    *,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
):
    """A dataclass field: ``help`` for ``--help``, ``choices`` allowed, ``flag`` the flag's name
    (a repeatable flag, one value each time) and bounds ``ge`` ≤ value ≤ ``le``, value > ``gt``
    (for a tuple field: each item's)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed in an options dataclass")
    meta = {"help": help, "choices": choices, "flag": flag, "ge": ge, "le": le, "gt": gt}
    return dataclasses.field(default=default, metadata=meta)


def flag_of(f: dataclasses.Field) -> str:
    """The command-line flag that sets field ``f``."""
    return "--" + (f.metadata.get("flag") or f.name.replace("_", "-"))


def check(obj) -> None:
    """Raise ``ConfigError`` naming the first field of the frozen dataclass ``obj`` whose value does
    not fit; else store the normal form of each value (tuples, floats) in ``obj``."""
    values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    for name, value in check_values(type(obj), values).items():
        if value is not values[name]:
            object.__setattr__(obj, name, value)


def check_values(cls, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (field name -> value) checked against ``cls``'s fields, in their normal form."""
    fields, hints = _fields(cls)
    return {name: _value(fields[name], hints[name], value) for name, value in values.items()}


@functools.cache
def _fields(cls) -> tuple[dict[str, dataclasses.Field], dict[str, Any]]:
    return {f.name: f for f in dataclasses.fields(cls)}, typing.get_type_hints(cls)


def unwrap(tp) -> tuple[Any, bool]:
    """(the type inside ``X | None``, whether None is allowed)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0], True
    return tp, False


def _value(f: dataclasses.Field, tp, value):
    tp, optional = unwrap(tp)
    if value is None and optional:
        return None
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        if isinstance(value, list):
            value = tuple(value)
        if not isinstance(value, tuple):
            raise _refuse(f, item, value, "type", plural=True)
        return tuple(_scalar(f, item, v, value) for v in value)
    return _scalar(f, tp, value, value)


def _scalar(f: dataclasses.Field, tp, v, shown):
    if tp is bool:
        ok = isinstance(v, bool)
    elif tp is int:
        ok = isinstance(v, numbers.Integral) and not isinstance(v, bool)
        v = int(v) if ok else v
    elif tp is float:
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
        v = float(v) if ok else v
    else:  # str, or any other class; a typing construct is left to the field's own checks
        ok = not isinstance(tp, type) or isinstance(v, tp)
    choices = f.metadata.get("choices")
    if not ok or (choices and v not in choices):
        raise _refuse(f, tp, shown, "type", plural=isinstance(shown, tuple))
    meta = f.metadata
    for bound, fails in (("ge", lambda b: v < b), ("gt", lambda b: v <= b), ("le", lambda b: v > b)):
        if meta.get(bound) is not None and fails(meta[bound]):
            raise _refuse(f, tp, shown, bound, plural=isinstance(shown, tuple))
    return v


_KINDS = {
    int: ("a whole number", "whole numbers"),
    float: ("a number", "numbers"),
    str: ("text", "strings"),
    bool: ("true or false", "true or false"),
}
_SIGNS = {"ge": "≥", "gt": ">", "le": "≤"}


def _refuse(f: dataclasses.Field, tp, shown, failed: str, plural: bool = False) -> ConfigError:
    """The message for field ``f``: what it must be (for the check that ``failed``), and what it is."""
    return ConfigError(f"{flag_of(f)} must be {_need(f, tp, failed, plural)}, not {show(shown)}")


def _need(f: dataclasses.Field, tp, failed: str, plural: bool) -> str:
    meta = f.metadata
    one, many = _KINDS.get(tp, (f"a {getattr(tp, '__name__', tp)}", f"{getattr(tp, '__name__', tp)}s"))
    kind = many if plural else one
    if meta.get("choices"):
        need = ("values from " if plural else "one of ") + ", ".join(map(str, meta["choices"]))
    elif failed == "type":
        need = kind
    elif (failed, meta.get(failed), tp) in (("ge", 1, int), ("gt", 0, int), ("gt", 0, float)):
        need = "positive " + kind.removeprefix("a ")
        need = need if plural else "a " + need
    elif meta.get("ge") is not None and meta.get("le") is not None:
        need = f"{kind} from {_num(meta['ge'])} to {_num(meta['le'])}"
    else:
        need = f"{kind} {_SIGNS[failed]} {_num(meta[failed])}"
    return "a list of " + need if plural else need


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def show(value) -> str:
    """A value as it would be written on the command line (tuples comma-separated)."""
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "an empty list"
    return repr(value) if isinstance(value, str) else str(value)
