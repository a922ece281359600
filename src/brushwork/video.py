"""Videos: decode with PyAV, paint the frames with temporal consistency (``temporal.py``, Ruder
et al. 2016), re-encode as H.264 at the source's frame rate with its audio copied.

Frames are cut into chunks (at shot changes, and at ``chunk`` frames if given); the frames of a
chunk are painted in order, each starting from the previous painted frame warped by optical flow,
and chunks may go to an executor's workers (a process pool or Dask), one chunk per task.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from . import images
from .config import Config, ConfigError, _opt
from .engine import stylize_iter
from .temporal import FLOWS, between

CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
SHOT_CHANGE = 40.0  # mean absolute grey-level change between frames that starts a new shot


class VideoError(ValueError):
    """A video that cannot be read or written."""


@dataclass(frozen=True)
class VideoOptions:
    # γ, weight of Ruder et al.'s short-term temporal cost; 0 paints every frame on its own.
    temporal_weight: float = _opt(200.0, "weight γ of the temporal cost (0: frames painted independently)")
    # Optical flow from OpenCV: DIS (fast, robust) or Farnebäck.
    flow: str = _opt("dis", "optical flow method", choices=FLOWS)
    # Frames after a chunk's first start from the warped previous frame, so need fewer steps.
    frame_iterations: int | None = _opt(None, "steps for each frame after a chunk's first (default: --iterations)")
    # Frames per task for workers (0: one task per shot); each chunk's first frame starts afresh.
    chunk: int = _opt(0, "frames per chunk given to one worker (0: one chunk per shot)")
    # x264's constant rate factor: 0 lossless … 51 worst; 18 looks like the frames.
    crf: int = _opt(18, "H.264 quality, 0 (best) to 51")


@dataclass(frozen=True)
class Clip:
    frames: list[np.ndarray]  # (H, W, 3) uint8, already at the painted size (even sides)
    rate: Fraction
    source: str


def read(path: str | os.PathLike, size: int) -> Clip:
    """Every video frame of ``path`` resized to ``size`` px on its longest side (even sides)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    try:
        with av.open(str(path)) as box:
            if not box.streams.video:
                raise VideoError(f"{path}: has no video stream")
            stream = box.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            frames = [f.to_ndarray(format="rgb24") for f in box.decode(stream)]
    except av.FFmpegError as e:
        raise VideoError(f"{path}: cannot be read as a video ({e})") from None
    if not frames:
        raise VideoError(f"{path}: has no frames")
    h, w = images.fit(size, *frames[0].shape[:2])
    h, w = max(2, h - h % 2), max(2, w - w % 2)  # H.264 in yuv420p needs even sides
    return Clip([_resize(f, h, w) for f in frames], Fraction(rate), str(path))


def _resize(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    if frame.shape[:2] == (h, w):
        return frame
    return images.to_uint8(images.resize(images.from_uint8(frame), (h, w)))


def chunks(frames: Sequence[np.ndarray], chunk: int = 0) -> list[tuple[int, int]]:
    """(start, end) of each run of frames painted in order: a new one at each shot change and,
    if ``chunk`` > 0, every ``chunk`` frames."""
    cuts = [0]
    for t in range(1, len(frames)):
        change = np.abs(frames[t].astype(np.int16) - frames[t - 1].astype(np.int16)).mean()
        if change > SHOT_CHANGE or (chunk and t - cuts[-1] >= chunk):
            cuts.append(t)
    return list(zip(cuts, cuts[1:] + [len(frames)]))


def paint_chunk(frames: Sequence[np.ndarray], styles: Sequence, config: Config, options: VideoOptions,
                on_frame: Callable[[int], None] | None = None, threads: int | None = None) -> list[np.ndarray]:
    """Paint ``frames`` in order (a top-level function, so executors can send it to workers).
    The first frame is painted as a picture; each next one starts from the previous painted frame
    warped onto it and, with ``temporal_weight`` > 0, keeps close to it where nothing was occluded."""
    if threads:
        torch.set_num_threads(threads)
    h, w = frames[0].shape[:2]
    cfg = config.replace(size=max(h, w), start_size=max(h, w), scales=None)  # one scale: the init is already fine
    later = cfg.replace(iterations=options.frame_iterations or cfg.iterations) if options.temporal_weight > 0 else cfg
    painted: list[np.ndarray] = []
    prev = None
    for t, frame in enumerate(frames):
        content = images.from_uint8(frame)
        init, temporal = None, None
        if prev is not None and options.temporal_weight > 0:
            init, temporal = between(frames[t - 1], frame, prev, options.temporal_weight, options.flow)
        event = None
        for event in stylize_iter(content, styles, later if prev is not None else cfg, image_every=0,
                                  init=init, temporal=temporal):
            pass
        prev = event.image
        painted.append(images.to_uint8(prev))
        if on_frame is not None:
            on_frame(t)
    return painted


def paint(clip: Clip, styles: Sequence, config: Config, options: VideoOptions, executor: Executor | None = None,
          on_frame: Callable[[int], None] | None = None, threads: int | None = None) -> list[np.ndarray]:
    """Every frame of ``clip`` painted: chunk by chunk here, or one chunk per task on ``executor``
    (``on_frame`` is then called per chunk's frames as each chunk ends)."""
    spans = chunks(clip.frames, options.chunk)
    if executor is None:
        out: list[np.ndarray] = []
        for a, b in spans:
            out += paint_chunk(clip.frames[a:b], styles, config, options,
                               None if on_frame is None else (lambda t, a=a: on_frame(a + t)))
        return out
    futures = [executor.submit(paint_chunk, clip.frames[a:b], list(styles), config, options, None, threads)
               for a, b in spans]
    out = []
    for (a, b), future in zip(spans, futures):
        out += future.result()
        for t in range(a, b):
            if on_frame is not None:
                on_frame(t)
    return out


def write(frames: Sequence[np.ndarray], output: str | os.PathLike, rate: Fraction, audio_from: str | None = None,
          crf: int = 18) -> Path:
    """Encode H.264 (yuv420p) at ``rate`` into ``output`` (.mp4, .mov, .mkv), copying the audio
    of ``audio_from`` if it has any; written to a temporary file beside it, then renamed."""
    import av

    output = check_output(output)
    fmt = CONTAINERS[output.suffix.lower()]
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(av.open(audio_from)) if audio_from else None
        audio = src.streams.audio[0] if src is not None and src.streams.audio else None
        box = stack.enter_context(av.open(stack.enter_context(images.replacing(output)), "w", format=fmt))
        vs = box.add_stream("libx264", rate=rate)
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt, vs.options = "yuv420p", {"crf": str(crf)}
        out_audio = box.add_stream_from_template(audio) if audio is not None else None  # before the header
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1) / rate
            box.mux(vs.encode(vf))
        box.mux(vs.encode(None))
        if out_audio is not None:  # the source's packets as they are: no re-encoding
            for packet in src.demux(audio):
                if packet.dts is not None:
                    packet.stream = out_audio
                    box.mux(packet)
    return output


def check_output(output: str | os.PathLike) -> Path:
    output = Path(output)
    if output.suffix.lower() not in CONTAINERS:
        raise VideoError(f"{output}: write a video as {', '.join(CONTAINERS)}")
    if not output.parent.is_dir():
        raise VideoError(f"{output.parent}: no such folder")
    return output


def check(options: VideoOptions) -> VideoOptions:
    if options.temporal_weight < 0 or options.chunk < 0 or not 0 <= options.crf <= 51:
        raise ConfigError("--temporal-weight and --chunk must be 0 or more, --crf 0 to 51")
    if options.frame_iterations is not None and options.frame_iterations <= 0:
        raise ConfigError("--frame-iterations must be a positive whole number")
    return options
