"""``batch`` and ``video``: many pictures, or a video's frames, on this process, a process pool
or Dask (``executors.py``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import batch, executors, flags, video, writing
from ..config import Config, ConfigError
from ..reading import ImageError
from .common import EXIT_FAILED, EXIT_OK, Bar, add_config_flags, add_quiet, config_from_args, outcome


def add_batch(sub) -> None:
    b = sub.add_parser("batch", help="paint every picture of files or folders in the same style(s)")
    b.add_argument("inputs", nargs="+", help="pictures or folders of pictures")
    _styles_and_workers(b, "output folder (made if missing)")
    add_config_flags(b)
    b.set_defaults(run=run_batch)


def add_video(sub) -> None:
    v = sub.add_parser("video", help="paint a video with temporally consistent frames (Ruder et al. 2016)")
    v.add_argument("input", help="the video (anything FFmpeg reads)")
    _styles_and_workers(v, "output video (.mp4, .mov, .mkv)")
    flags.add_dataclass_flags(v.add_argument_group("video options"), video.VideoOptions)
    add_config_flags(v)
    v.set_defaults(run=run_video)


def _styles_and_workers(p: argparse.ArgumentParser, output: str) -> None:
    p.add_argument(
        "--style",
        dest="batch_styles",
        action="append",
        required=True,
        metavar="STYLE",
        help="a style image; repeat for several",
    )
    p.add_argument("-o", "--output", required=True, help=output)
    add_quiet(p)
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default: 1, this process)")
    p.add_argument(
        "--dask",
        default=None,
        metavar="tcp://HOST:PORT|local:N",
        help="run on a Dask cluster, or a local one of N workers (needs brushwork[distributed])",
    )


def run_batch(ns: argparse.Namespace) -> int:
    """Checked before any work (an error here is a usage error): the options, the workers, the
    styles, the inputs, the output folder (made, and written to once)."""
    config = config_from_args(ns)
    executors.check(ns.workers, ns.dask)
    outdir = Path(ns.output)
    for s in ns.batch_styles:
        check_style(s)
    batch.check_places(ns.inputs, outdir)
    contents = batch.inputs(ns.inputs)
    if not contents:
        raise ConfigError("no pictures found in " + ", ".join(ns.inputs))
    _output_folder(outdir)
    jobs: list[batch.Job] = []
    there: set[str] = set()
    try:
        with executors.executor(ns.workers, ns.dask) as (pool, threads):
            jobs = batch.plan(contents, ns.batch_styles, outdir, config, threads, rescue=True)
            there = {j.output for j in jobs if Path(j.output).exists()}
            failed = _run_jobs(jobs, pool, ns.quiet)
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: what is written stays, a rerun does the rest
        what, code = outcome(e)
        painted = sum(1 for j in jobs if j.output not in there and Path(j.output).exists())
        left = len(jobs) - len(there) - painted
        print(
            f"brushwork: {what}; {painted} painted, {left} not; the same command again paints the rest", file=sys.stderr
        )
        return code
    for out in failed:
        print(f"  {_named(out)}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def check_style(path: str) -> None:
    p = Path(path)
    if p.is_dir():
        raise ImageError(f"style {path}: is a folder; give a picture")
    if not p.is_file():
        raise ImageError(f"style {path}: no such file")


def _output_folder(outdir: Path) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise ConfigError(f"{outdir} is not a folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot make the output folder {outdir} ({writing.saying(e)})") from None
    why = writing.unwritable(outdir)
    if why is not None:
        raise ConfigError(f"cannot write in the output folder {outdir} ({why})")


def _run_jobs(jobs: list[batch.Job], pool, quiet: bool) -> list[batch.Outcome]:
    """Paint the jobs, a line for each as it ends and a summary; the failed outcomes."""
    failed, counts = [], {"done": 0, "skipped": 0, "failed": 0, "cancelled": 0}
    results = batch.stylize_many(jobs, pool)
    with Bar(len(jobs), "picture", quiet) as bar:
        try:
            for out in results:
                counts[out.status] += 1
                if out.status == "failed":
                    failed.append(out)
                    bar.say(f"failed  {_named(out)}")
                else:
                    bar.say(
                        f"{out.status:7} {out.job.content} -> {out.job.output}"
                        + (f" ({out.seconds:.1f} s)" if out.status == "done" else "")
                    )
                bar.advance()
        except KeyboardInterrupt:
            executors.stop(pool)  # running pictures end at their next step, unwritten
            results.close()  # what has not started is cancelled
            print("brushwork: stopping: the pictures being painted are dropped", file=sys.stderr, flush=True)
            raise
    print(
        f"brushwork: {counts['done']} painted, {counts['skipped']} already there, {counts['failed']} failed",
        file=sys.stderr,
    )
    return failed


def _named(out: batch.Outcome) -> str:
    """The failure's message, with the picture's name in front unless it already starts with it."""
    error = out.error or "failed"
    return error if error.startswith(out.job.content) else f"{out.job.content}: {error}"


def run_video(ns: argparse.Namespace) -> int:
    """Read, paint and write frame by frame; the output is checked before any work and never
    replaces a file. A disk that fails midway sends the video to a rescue folder (exit 1)."""
    config = config_from_args(ns)
    executors.check(ns.workers, ns.dask)
    options = video.VideoOptions(**flags.changes(ns, video.VideoOptions))
    out = Path(ns.output)
    if out.exists() or out.is_symlink():
        raise video.VideoError(f"{out} exists; give another output (nothing is overwritten)")
    video.check_output(out)  # before hours of painting, not after
    for s in ns.batch_styles:
        check_style(s)
    with video.Reader(ns.input, config.size) as src:
        sink = video.Writer(out, src, options.crf, rescue=True)
        try:
            _stream(src, sink, ns, config, options)
            where = sink.close()
        except BaseException as e:
            sink.discard()
            if isinstance(e, OSError):  # the output failed and no rescue folder took the video either
                raise writing.CannotWrite(out, e) from None
            if not isinstance(e, KeyboardInterrupt):
                raise
            what, code = outcome(e)
            print(
                f"brushwork: {what} after {sink.frames} frames; nothing written (a video is written when complete)",
                file=sys.stderr,
            )
            return code
    if sink.error is not None:
        print(
            f"brushwork: error: cannot write {out} ({writing.saying(sink.error)}); wrote the video to {where} instead",
            file=sys.stderr,
        )
        return EXIT_FAILED
    h, w = src.hw
    print(f"wrote {out} ({sink.frames} frames, {w}×{h}, {float(src.rate):g} fps)", file=sys.stderr)
    return EXIT_OK


def _stream(
    src: video.Reader, sink: video.Writer, ns: argparse.Namespace, config: Config, options: video.VideoOptions
) -> None:
    """Frames from ``src``, painted here or on the workers, to ``sink`` as they come."""
    with Bar(src.count, "frame", ns.quiet) as bar, executors.executor(ns.workers, ns.dask) as (pool, threads):
        for frame in video.paint_stream(src.frames(), ns.batch_styles, config, options, pool, threads):
            sink.write(frame, src.times.popleft())
            bar.advance()
