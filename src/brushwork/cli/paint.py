"""``paint``, ``demo`` and ``info``: one picture painted (what an interruption or a failing disk
leaves is kept, with a checkpoint to continue from), and the options a PNG was made with."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import checkpoint, flags, images, writing
from ..config import Config, ConfigError
from ..data import STARRY_NIGHT, TUBINGEN
from ..engine import Painting, stylize_iter
from ..events import png_params
from ..writing import CannotWrite, saying
from .common import EXIT_FAILED, EXIT_OK, MID_WORK, Bar, add_config_flags, add_quiet, config_from_args, outcome


def add_paint(sub) -> None:
    paint = sub.add_parser("paint", help="paint a photo in the style of one or more images")
    paint.add_argument("content", help="the photo")
    paint.add_argument("styles", nargs="+", metavar="style", help="style image(s)")
    paint.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp, .tif, .bmp)")
    add_quiet(paint)
    paint.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        default=None,
        help="continue the run a checkpoint holds (written on Ctrl-C or SIGTERM: OUT.png.ckpt)",
    )
    add_config_flags(paint)
    paint.set_defaults(run=_paint)


def add_demo(sub) -> None:
    demo = sub.add_parser("demo", help="paint the bundled Tübingen photo as The Starry Night")
    demo.add_argument("-o", "--output", default=None, help="output image (default: a new file in the current folder)")
    add_quiet(demo)
    demo.add_argument("--resume", metavar="CHECKPOINT", default=None, help="continue an interrupted demo")
    add_config_flags(demo)
    demo.set_defaults(run=run_demo)


def add_info(sub) -> None:
    info = sub.add_parser("info", help="print the parameters a brushwork PNG was made with")
    info.add_argument("image")
    info.set_defaults(run=lambda ns: run_info(ns.image))


def _paint(ns: argparse.Namespace) -> int:
    return run_paint(ns.content, ns.styles, Path(ns.output), config_from_args(ns), ns.quiet, ns.resume)


def run_demo(ns: argparse.Namespace) -> int:
    config = config_from_args(ns)
    output = Path(ns.output) if ns.output else writing.fresh(Path("tubingen_starry_night.png"))
    code = run_paint(TUBINGEN, [STARRY_NIGHT], output, config, ns.quiet, ns.resume)
    if code == EXIT_OK:
        print(output.resolve())
    return code


def checkpoint_path(output: Path) -> Path:
    """Where an interrupted run keeps its checkpoint: next to the output, ``OUT.png.ckpt``."""
    return output.with_name(output.name + ".ckpt")


def run_paint(content, styles: Sequence, output: Path, config: Config, quiet: bool, resume: str | None = None) -> int:
    images.check_writable(output)
    refuse_overwriting(
        output,
        {
            "the content picture": [content],
            "a style image": styles,
            "a --style-mask": [m.split("=", 1)[1] for m in config.style_masks],
            "the --init picture": [config.init],
            "the --resume checkpoint": [resume],
        },
    )
    state = checkpoint.load(resume) if resume else None
    painting: Painting = stylize_iter(content, styles, config, resume=state)  # checks every input first
    event = None
    try:
        with Bar(None, "step", quiet) as bar:
            for event in painting:
                bar.show(
                    event.step, event.iterations, {"px": event.size, **{k: f"{v:.3g}" for k, v in event.losses.items()}}
                )
                if event.recovered and not quiet:
                    bar.say(
                        f"step {event.step}: the loss was not finite; back to the best picture, optimizer restarted"
                    )
                if event.image is not None and not event.done:
                    _save_intermediate(event, output, png_params(config, content, styles, event))
    except MID_WORK as e:
        return _keep_work(painting, e, output, png_params(config, content, styles, event))
    image = painting.current_image() if event is None else event.image
    code = _write_result(image, output, png_params(config, content, styles, event))
    if code == EXIT_OK and resume:
        Path(resume).unlink(missing_ok=True)  # its run is finished: nothing is left to continue
    if code == EXIT_OK and not quiet and event is not None:
        losses = ", ".join(f"{k} {v:.4g}" for k, v in event.losses.items())
        print(f"wrote {output} ({event.step} steps, {event.elapsed:.1f} s; {losses})", file=sys.stderr)
    return code


def refuse_overwriting(output: Path, inputs: dict[str, Sequence]) -> None:
    """A ``ConfigError`` if ``output`` is one of the ``inputs`` (what each is -> paths): a painting
    never replaces the photo, a style or a mask it was made from."""
    out = os.path.realpath(output)
    for what, paths in inputs.items():
        for p in paths:
            if isinstance(p, (str, os.PathLike)) and os.path.realpath(p) == out:
                raise ConfigError(f"-o {output} is {what}; give another output (inputs are never painted over)")


def _save_intermediate(event, output: Path, params: dict) -> None:
    path = output.with_name(f"{output.stem}_{event.step}{output.suffix}")
    try:
        images.save(event.image, path, params)
    except OSError as e:
        raise CannotWrite(path, e) from None


def _write_result(image, output: Path, params: dict) -> int:
    """Write the finished picture; where ``output`` cannot take it, to a rescue folder (exit 1)."""
    where, said = _save_kept(image, output, params, "the picture")
    if where == output:
        return EXIT_OK
    print(f"brushwork: error: {said}{' instead' if where is not None else ''}", file=sys.stderr)
    return EXIT_FAILED


def _save_kept(image, output: Path, params: dict, what: str) -> tuple[Path | None, str]:
    """Write ``image`` to ``output`` or, if it cannot be written there, to a rescue folder:
    (where it went, None if nowhere; what to tell the user of it)."""
    try:
        where, error = images.save_or_rescue(image, output, params)
    except OSError as e:
        places = " or ".join(map(str, writing.rescue_folders()))
        return None, f"cannot write {output} ({saying(e)}), nor in {places}; {what} is lost"
    said = f"wrote {what} to {where}"
    return where, said if error is None else f"cannot write {output} ({saying(error)}); {said}"


def _keep_work(painting: Painting, e: BaseException, output: Path, params: dict) -> int:
    """After an interruption or a failure: write the best picture and a checkpoint, say so. Where
    the output's folder cannot take them (full disk, read-only), they go to a rescue folder."""
    image, state = painting.current_image(), painting.checkpoint()
    what, code = outcome(e)
    if image is None:
        print(f"brushwork: {what} before the first step; nothing written", file=sys.stderr)
        return code
    where, kept = _save_kept(image, output, params, "the best picture so far")
    if where is not None and state is not None:
        try:
            ckpt, _ = writing.write_or_rescue(checkpoint_path(where), checkpoint.encode(state))
            kept += f" and a checkpoint to {ckpt} (continue with --resume {ckpt})"
        except OSError as err:
            kept += f"; no checkpoint could be written ({saying(err)})"
    print(f"brushwork: {what}; {kept}", file=sys.stderr)
    return code


def reproduce_command(params: dict, output: str) -> str:
    """The ``brushwork paint`` command line that makes the picture ``params`` describe."""
    config = Config.from_dict(params["config"])
    default = Config()
    content, styles = params.get("content"), params.get("styles")
    if not isinstance(styles, list) or not styles or not all(isinstance(s, str) for s in styles):
        styles = ["STYLE"]
    words = ["brushwork", "paint", content if isinstance(content, str) else "CONTENT", *styles, "-o", output]
    for f in dataclasses.fields(Config):
        value = getattr(config, f.name)
        if value == getattr(default, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.metadata.get("flag"):
            words += [w for v in value for w in ("--" + f.metadata["flag"], v)]
        else:
            words += [flag] if value is True else [flag, flags.show(value)]
    return " ".join(shlex.quote(str(w)) for w in words)


def run_info(path: str) -> int:
    params = images.read_params(path)
    try:
        params["command"] = reproduce_command(params, path)
    except ConfigError as e:
        raise images.ImageError(f"{path}: its options are not ones this brushwork can use ({e})") from None
    print(json.dumps(params, indent=2, sort_keys=True))
    return EXIT_OK
