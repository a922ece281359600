"""The job a page sends, checked before anything is done with it.

The options' model is built from ``Config``'s fields and type hints, so a new option is covered
(or, if its type is new, refused loudly here) without a list to keep in step. Types are exact: a
flag is ``true``/``false``, not ``"false"``; a count is ``3``, not ``3.0``; numbers are finite.
Every size-like option has a bound from the studio's settings, and the job as a whole (a preset's
values included) is held to them again once its options are merged. A refusal is one 422 naming
the field and the rule."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, create_model
from pydantic_core import ErrorDetails

from ..config import Config, ConfigError
from ..presets import load_preset
from ..presets import names as preset_names
from .errors import Refused
from .settings import Settings

# Options a page may not set: files on the server (weights, init images, masks), where to
# compute (the server's --device) and intermediate files.
SERVER_ONLY = ("weights", "weights_format", "device", "style_masks", "save_every")
# Options the studio narrows: any other init would be a file on the server.
NARROWED = {"init": ("content", "noise")}
MAX_SCALES = 8  # a schedule's sizes: 16 px (the network's least) to 2048 px in doublings
WHOLE = 2**53 - 1  # the largest whole number the page's JavaScript holds exactly
MAX_TEXT = 64  # characters in a text option (a layer's name, a choice) or an upload id
MAX_ITEMS = 16  # items in a list option that has no bound of its own (VGG19 has 16 conv layers)
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
FIELDS = ("content", "styles", "blend", "preset", "options")


def bounds(settings: Settings) -> dict[str, dict]:
    """Constraints on the size-like options ('items': on each item of a list), from the settings."""
    return {
        "size": {"ge": 1, "le": settings.max_size},
        "iterations": {"ge": 1, "le": settings.max_iterations},
        "coarse_iterations": {"ge": 1, "le": settings.max_iterations},
        "start_size": {"ge": 1},  # at or above size it only means one scale
        "scales": {"max_length": MAX_SCALES, "items": {"ge": 1, "le": settings.max_size}},
        "scale_iterations": {"max_length": MAX_SCALES, "items": {"ge": 1, "le": settings.max_iterations}},
        "tile_size": {"ge": 0, "le": settings.max_size},
        # the style is painted at style_scale × size px, at most max_size (checked on the job)
        "style_scale": {"gt": 0, "le": settings.max_size},
        "style_blend_weights": {"max_length": settings.max_styles},
    }


def options_model(settings: Settings) -> type[BaseModel]:
    """One field per ``Config`` field the page may set, under its name or with hyphens."""
    hints, rules = typing.get_type_hints(Config), bounds(settings)
    # name: (its type, built at run time; its FieldInfo). Any: create_model takes them as **kwargs beside its
    # own __config__ and the like, which a narrower value type would not fit.
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(Config):
        if f.name in SERVER_ONLY:
            continue
        tp = _field_type(hints[f.name], rules.get(f.name, {}), NARROWED.get(f.name) or f.metadata.get("choices"))
        # The default is never used: only the options given are taken (exclude_unset).
        fields[f.name] = (tp, Field(None, validation_alias=AliasChoices(f.name, f.name.replace("_", "-"))))
    return create_model("Options", __config__=STRICT, **fields)


def job_model(settings: Settings) -> type[BaseModel]:
    options = options_model(settings)
    upload_id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
    weight = Annotated[float, Field(ge=0)]
    preset: Any = Literal[tuple(preset_names())]  # a type built at run time: mypy sees only a value
    return create_model(
        "Job",
        __config__=STRICT,
        content=(upload_id, ...),
        styles=(Annotated[list[upload_id], Field(min_length=1, max_length=settings.max_styles)], ...),
        blend=(Annotated[list[weight], Field(max_length=settings.max_styles)] | None, None),
        preset=(preset | None, None),
        options=(options, Field(default_factory=options)),
    )


def _field_type(tp, rules: dict, choices: tuple | None):
    """The pydantic type of a Config field's annotation: exact, finite, bounded."""
    args = typing.get_args(tp)
    optional = typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args
    if optional:
        (tp,) = [a for a in args if a is not type(None)]
    out: Any  # a type built at run time, for pydantic
    if typing.get_origin(tp) is tuple:
        item = _scalar(typing.get_args(tp)[0], rules.get("items", {}), choices)
        # mypy takes tuple[...] for a static type, which item (built at run time) cannot be.
        out = Annotated[tuple[item, ...], Field(max_length=rules.get("max_length", MAX_ITEMS))]  # type: ignore[valid-type]
    else:
        out = _scalar(tp, {k: v for k, v in rules.items() if k not in ("items", "max_length")}, choices)
    return out | None if optional else out


def _scalar(tp, rules: dict, choices: tuple | None):
    if choices:
        return Literal[tuple(choices)]
    if tp is bool:
        return bool
    if tp is int:
        return Annotated[int, Field(**{"ge": -WHOLE, "le": WHOLE, **rules})]
    if tp is float:
        return Annotated[float, Field(**rules)]
    if tp is str:
        return Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    raise TypeError(f"the studio has no rule for options of type {tp!r}")  # a new kind of Config field


class Checker:
    """Turns a job's JSON bytes into (the parsed job, its Config), or ``Refused(422)``."""

    def __init__(self, settings: Settings):
        self.settings, self.model = settings, job_model(settings)

    def parse(self, body: bytes):
        try:
            return self.model.model_validate_json(body)
        except ValidationError as e:
            raise Refused(422, "; ".join(_explain(err) for err in e.errors()[:3])) from None

    def config(self, job) -> Config:
        """The job's options over its preset (or the defaults), held to the studio's limits."""
        given = job.options.model_dump(exclude_unset=True)
        if job.blend is not None:
            given["style_blend_weights"] = tuple(job.blend)
        try:
            config = (load_preset(job.preset) if job.preset else Config()).replace(**given, device=self.settings.device)
            config.blend(len(job.styles))
        except ConfigError as e:
            raise Refused(422, str(e)) from None
        problem = _over_limits(config, self.settings)
        if problem:
            raise Refused(422, problem)
        return config


def _over_limits(config: Config, s: Settings) -> str | None:
    """What in the merged job exceeds the studio's limits (a preset may, e.g. hires' 2048 px)."""
    sizes = config.schedule()
    if config.size > s.max_size:
        return f"size {config.size}: the studio paints at most {s.max_size} px (its --max-size)"
    if len(sizes) > MAX_SCALES:
        return f"scales: {len(sizes)} sizes ({', '.join(map(str, sizes))}); the studio paints at most {MAX_SCALES}"
    for name in ("iterations", "coarse_iterations"):
        steps = getattr(config, name)
        if steps is not None and steps > s.max_iterations:
            return f"{name} {steps}: the studio paints at most {s.max_iterations} steps per scale"
    if max(config.steps()) > s.max_iterations:
        return f"scale_iterations {max(config.steps())}: the studio paints at most {s.max_iterations} steps per scale"
    if config.style_scale * config.size > s.max_size:
        return (
            f"style_scale {config.style_scale:g} × size {config.size} = {config.style_scale * config.size:g} px: "
            f"the studio paints a style picture at most at {s.max_size} px"
        )
    return None


def _explain(err: ErrorDetails) -> str:
    """One error of pydantic's as a sentence naming the field ('options.size') and the rule."""
    loc = [str(p) for p in err["loc"]]
    where, kind, msg = ".".join(loc), err["type"], err["msg"]
    if kind == "json_invalid":
        return f"the job is not valid JSON ({err['ctx']['error'] if 'ctx' in err else msg})"
    if kind == "model_type":
        return "options: must be an object of option names and values" if loc else "the job must be a JSON object"
    if kind == "missing":
        return f"{where}: missing (a job needs content, an upload id, and styles, a list of them)"
    if kind == "extra_forbidden" and len(loc) == 1:
        return f"{where}: unknown field; a job has {', '.join(FIELDS)}"
    if kind == "extra_forbidden":
        name = loc[-1].replace("-", "_")
        if name in SERVER_ONLY:
            return f"{where}: the studio sets this option itself (server files and the device are not the page's)"
        close = difflib.get_close_matches(name, [f.name for f in dataclasses.fields(Config)], n=1)
        return f"{where}: unknown option" + (f" (did you mean {close[0]}?)" if close else "")
    return f"{where}: {msg[0].lower()}{msg[1:]}"
