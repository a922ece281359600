"""The ``brushwork`` command: ``paint``, ``demo``, ``batch``, ``video``, ``serve`` and ``info``. Flags are built from ``Config``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Sequence

from . import __version__, checkpoint, cli_many, flags, images, studio, writing
from .config import Config, ConfigError
from .data import STARRY_NIGHT, TUBINGEN
from .devices import DeviceError
from .engine import DivergedError, OutOfMemory, Painting, run_params, stylize_iter
from .presets import load_preset, names as preset_names
from .video import VideoError
from .weights import WeightsError
from .writing import CannotWrite, saying

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
_ERRORS = (ConfigError, images.ImageError, WeightsError, DeviceError, VideoError)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: keep the best picture and a checkpoint."""


class Parser(argparse.ArgumentParser):
    """Errors in one line, not the whole usage before it."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _on_sigterm(signum, frame):
    raise Terminated()


def _stopped(e: BaseException) -> tuple[str, int]:
    """What to say of a run that ``e`` stopped, and the exit status."""
    if isinstance(e, Terminated):
        return "terminated", EXIT_TERMINATED
    if isinstance(e, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    return f"error: {e}", EXIT_FAILED


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Config field; defaults come from the dataclass (shown in --help)."""
    group = parser.add_argument_group("painting options")
    group.add_argument("--preset", default=None, metavar="NAME|FILE.toml",
                       help=f"start from a preset ({', '.join(preset_names())}) or a TOML file; flags override it")
    flags.add_dataclass_flags(group, Config)
    group.add_argument("--original-colors", action="store_true",
                       help="keep the content image's colours (alias of --color keep)")


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


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="brushwork", description="Neural style transfer (Gatys et al.).")
    parser.add_argument("--version", action="version", version=f"brushwork {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    paint = sub.add_parser("paint", help="paint a photo in the style of one or more images")
    paint.add_argument("content", help="the photo")
    paint.add_argument("styles", nargs="+", metavar="style", help="style image(s)")
    paint.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp, .tif, .bmp)")
    paint.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    paint.add_argument("--resume", metavar="CHECKPOINT", default=None,
                       help="continue the run a checkpoint holds (written on Ctrl-C or SIGTERM: OUT.png.ckpt)")
    add_config_flags(paint)

    demo = sub.add_parser("demo", help="paint the bundled Tübingen photo as The Starry Night")
    demo.add_argument("-o", "--output", default=None, help="output image (default: a new file in the current folder)")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    demo.add_argument("--resume", metavar="CHECKPOINT", default=None, help="continue an interrupted demo")
    add_config_flags(demo)

    serve = sub.add_parser("serve", help="start the web studio: a page to paint in, with a live preview")
    flags.add_dataclass_flags(serve.add_argument_group("studio options"), studio.Settings)

    cli_many.add_parsers(sub, add_config_flags)

    info = sub.add_parser("info", help="print the parameters a brushwork PNG was made with")
    info.add_argument("image")
    return parser


def _params(config: Config, content, styles, event=None) -> dict:
    params = {"content": str(content), "styles": [str(s) for s in styles], **run_params(config)}
    if event is not None:
        params.update(step=event.step, losses=event.losses, elapsed=round(event.elapsed, 3))
    return params


def _intermediate(out: Path, step: int) -> Path:
    return out.with_name(f"{out.stem}_{step}{out.suffix}")


def checkpoint_path(output: Path) -> Path:
    """Where an interrupted run keeps its checkpoint: next to the output, ``OUT.png.ckpt``."""
    return output.with_name(output.name + ".ckpt")


def run_paint(content, styles: Sequence, output: Path, config: Config, quiet: bool, resume: str | None = None) -> int:
    images.check_writable(output)
    refuse_overwriting(output, {"the content picture": [content], "a style image": styles,
                                "a --style-mask": [m.split("=", 1)[1] for m in config.style_masks],
                                "the --init picture": [config.init], "the --resume checkpoint": [resume]})
    state = checkpoint.load(resume) if resume else None
    painting: Painting = stylize_iter(content, styles, config, resume=state)  # checks every input first
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=None, unit="step", dynamic_ncols=True, file=sys.stderr)
    event = None
    try:
        for event in painting:
            if bar is not None:
                bar.total = event.iterations
                bar.n = event.step
                bar.set_postfix({"px": event.size, **{k: f"{v:.3g}" for k, v in event.losses.items()}}, refresh=False)
                bar.update(0)
                if event.recovered:
                    bar.write(f"step {event.step}: the loss was not finite; back to the best picture, optimizer restarted")
            if event.image is not None and not event.done:
                _save_intermediate(event, output, _params(config, content, styles, event))
    except (KeyboardInterrupt, DivergedError, OutOfMemory, CannotWrite) as e:
        if bar is not None:
            bar.close()
        return _keep_work(painting, e, output, _params(config, content, styles, event))
    if bar is not None:
        bar.close()
    image = painting.current_image() if event is None else event.image
    code = _write_result(image, output, _params(config, content, styles, event))
    if code == 0 and resume:
        Path(resume).unlink(missing_ok=True)  # its run is finished: nothing is left to continue
    if code == 0 and not quiet and event is not None:
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
    path = _intermediate(output, event.step)
    try:
        images.save(event.image, path, params)
    except OSError as e:
        raise CannotWrite(path, e) from None


def _write_result(image, output: Path, params: dict) -> int:
    """Write the finished picture; where ``output`` cannot take it, to a rescue folder (exit 1)."""
    where, said = _save_kept(image, output, params, "the picture")
    if where == output:
        return 0
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
    what, code = _stopped(e)
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
    return 0


def run_serve(settings) -> int:
    try:
        sock = studio.listen(settings)
    except OSError as e:
        print(f"brushwork: error: cannot listen on {settings.host}:{settings.port} ({e.strerror or e})", file=sys.stderr)
        return EXIT_USAGE
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"brushwork studio: http://{host}:{settings.port}/  (Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        studio.serve(settings, sock)
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM, raised again once the studio has stopped
        what, code = _stopped(e)
        print(f"brushwork: {what}", file=sys.stderr, flush=True)
        # Now, skipping the interpreter's cleanup: the studio has nothing left to save, torch's
        # cleanup takes seconds, and it would abort on a step the studio could not wait for.
        os._exit(code)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if ns.command == "info":
            return run_info(ns.image)
        if ns.command == "serve":
            return run_serve(studio.Settings(**flags.changes(ns, studio.Settings)))
        config = config_from_args(ns)
        if ns.command in ("batch", "video"):
            return (cli_many.run_batch if ns.command == "batch" else cli_many.run_video)(ns, config)
        if ns.command == "demo":
            output = Path(ns.output) if ns.output else writing.fresh(Path("tubingen_starry_night.png"))
            code = run_paint(TUBINGEN, [STARRY_NIGHT], output, config, ns.quiet, ns.resume)
            if code == 0:
                print(output.resolve())
            return code
        return run_paint(ns.content, ns.styles, Path(ns.output), config, ns.quiet, ns.resume)
    except _ERRORS as e:
        print(f"brushwork: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (OutOfMemory, CannotWrite) as e:  # before the first step, or a video nothing could take
        print(f"brushwork: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as e:  # while reading the inputs: nothing to keep yet
        what, code = _stopped(e)
        print(f"brushwork: {what}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
