"""The ``batch`` and ``video`` commands: many pictures, or a video's frames, on this process, a
process pool or Dask (``executors.py``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import batch, flags, video
from .config import Config, ConfigError
from .reading import ImageError


def add_parsers(sub, add_config_flags) -> None:
    b = sub.add_parser("batch", help="paint every picture of files or folders in the same style(s)")
    b.add_argument("inputs", nargs="+", help="pictures or folders of pictures")
    b.add_argument("--style", dest="batch_styles", action="append", required=True, metavar="STYLE",
                   help="a style image; repeat for several")
    b.add_argument("-o", "--output", required=True, help="output folder (made if missing)")
    _where(b)
    add_config_flags(b)

    v = sub.add_parser("video", help="paint a video with temporally consistent frames (Ruder et al. 2016)")
    v.add_argument("input", help="the video (anything FFmpeg reads)")
    v.add_argument("--style", dest="batch_styles", action="append", required=True, metavar="STYLE",
                   help="a style image; repeat for several")
    v.add_argument("-o", "--output", required=True, help="output video (.mp4, .mov, .mkv)")
    _where(v)
    flags.add_dataclass_flags(v.add_argument_group("video options"), video.VideoOptions)
    add_config_flags(v)


def _where(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default: 1, this process)")
    p.add_argument("--dask", default=None, metavar="tcp://HOST:PORT|local:N",
                   help="run on a Dask cluster, or a local one of N workers (needs brushwork[distributed])")


def _bar(total: int, quiet: bool, unit: str):
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, dynamic_ncols=True, file=sys.stderr)


def run_batch(ns: argparse.Namespace, config: Config) -> int:
    from .executors import executor

    outdir = Path(ns.output)
    # Checked before any work; cli.main prints these as one "error:" line and exits 2.
    if outdir.exists() and not outdir.is_dir():
        raise ConfigError(f"{outdir} is not a folder")
    for s in ns.batch_styles:
        if not Path(s).is_file():
            raise ImageError(f"style {s}: no such file")
    contents = batch.inputs(ns.inputs)
    if not contents:
        raise ConfigError("no pictures found in " + ", ".join(ns.inputs))
    outdir.mkdir(parents=True, exist_ok=True)
    failed, counts = [], {"done": 0, "skipped": 0, "failed": 0}
    with executor(ns.workers, ns.dask) as (pool, threads):
        jobs = batch.plan(contents, ns.batch_styles, outdir, config, threads)
        bar = _bar(len(jobs), ns.quiet, "picture")
        say = bar.write if bar is not None else (lambda s: print(s, file=sys.stderr))
        results = batch.stylize_many(jobs, pool)
        try:
            for out in results:
                counts[out.status] += 1
                if out.status == "failed":
                    failed.append(out)
                    say(f"failed  {_named(out)}")
                else:
                    say(f"{out.status:7} {out.job.content} -> {out.job.output}"
                        + (f" ({out.seconds:.1f} s)" if out.status == "done" else ""))
                if bar is not None:
                    bar.update(1)
        except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: what is written stays, a rerun does the rest
            from .cli import _stopped

            results.close()
            what, code = _stopped(e)
            print(f"brushwork: {what}; {counts['done']} painted, the same command again paints the rest",
                  file=sys.stderr)
            return code
        finally:
            if bar is not None:
                bar.close()
    print(f"brushwork: {counts['done']} painted, {counts['skipped']} already there, {counts['failed']} failed",
          file=sys.stderr)
    for out in failed:
        print(f"  {_named(out)}", file=sys.stderr)
    return 1 if failed else 0


def _named(out: batch.Outcome) -> str:
    """The failure's message, with the picture's name in front unless it already starts with it."""
    return out.error if out.error.startswith(out.job.content) else f"{out.job.content}: {out.error}"


def run_video(ns: argparse.Namespace, config: Config) -> int:
    from .executors import executor

    options = video.check(video.VideoOptions(**flags.changes(ns, video.VideoOptions)))
    out = Path(ns.output)
    if out.exists():
        raise video.VideoError(f"{out} exists; give another output (nothing is overwritten)")
    video.check_output(out)  # before hours of painting, not after
    clip = video.read(ns.input, config.size)
    bar = _bar(len(clip.frames), ns.quiet, "frame")
    try:
        with executor(ns.workers, ns.dask) as (pool, threads):
            frames = video.paint(clip, ns.batch_styles, config, options, pool,
                                 on_frame=(lambda t: bar.update(1)) if bar is not None else None, threads=threads)
    finally:
        if bar is not None:
            bar.close()
    video.write(frames, out, clip.rate, clip.source, options.crf)
    h, w = frames[0].shape[:2]
    print(f"wrote {out} ({len(frames)} frames, {w}×{h}, {float(clip.rate):g} fps)", file=sys.stderr)
    return 0
