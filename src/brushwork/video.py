"""Videos: frames painted with temporal consistency (``temporal.py``, Ruder et al. 2016), as a
stream: frames come from ``videofile.Reader`` and go to ``videofile.Writer`` as they are painted,
so memory does not grow with the clip's length.

Frames are cut into chunks at shot changes (and every ``chunk`` frames if given); the frames of a
chunk are painted in order, each starting from the previous painted frame warped by optical flow,
and each chunk's first frame starts afresh. In this process frames are painted one by one as
they arrive; on an executor's workers (a process pool or Dask) each chunk is one task, sent as
soon as it is cut, with at most a few chunks in flight (bounded look-ahead), and painted chunks
come back in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from . import executors, images
from .config import Config
from .engine import stylize_iter
from .options import check as check_fields
from .options import option
from .temporal import FLOWS, between
from .videofile import Reader, VideoError, Writer, check_output  # noqa: F401 (re-exported)

SHOT_CHANGE = 40.0  # mean absolute grey-level change between frames that starts a new shot
# --tolerance for a frame that starts from the previous one, when none is given. swd and nn run
# every step of a picture (config.STYLE_TOLERANCES); a warm-started frame held by the temporal cost
# is near its end from the start, and every step cost them 1.6-2.2× the time of the clip (8 frames at
# 128 px: nn 76 s against 48 s, swd 118 s against 53 s; quality-nn-cpu.md).
FRAME_TOLERANCE = 0.005
WORKER_CHUNK = 120  # frames per task on workers when --chunk is 0: bounds what is held in memory


@dataclass(frozen=True)
class VideoOptions:
    # γ, weight of Ruder et al.'s short-term temporal cost; 0 paints every frame on its own.
    temporal_weight: float = option(200.0, "weight γ of the temporal cost (0: frames painted independently)", ge=0)
    # Optical flow from OpenCV: DIS (fast, robust) or Farnebäck.
    flow: str = option("dis", "optical flow method", choices=FLOWS)
    # Frames after a chunk's first start from the warped previous frame, so need fewer steps.
    frame_iterations: int | None = option(
        None, "steps for each frame after a chunk's first (default: --iterations)", ge=1
    )
    # Frames per chunk (0: one chunk per shot; on workers, at most WORKER_CHUNK frames each).
    chunk: int = option(
        0,
        f"frames per chunk, each painted afresh from its first frame (0: one per "
        f"shot; with workers at most {WORKER_CHUNK})",
        ge=0,
    )
    # x264's constant rate factor: 0 lossless … 51 worst; 18 looks like the frames.
    crf: int = option(18, "H.264 quality, 0 (best) to 51", ge=0, le=51)

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True)
class Clip:
    """Frames held in memory (``(H, W, 3)`` uint8 at the painted size): for tests and benchmarks;
    files are streamed (``videofile.Reader``)."""

    frames: list[np.ndarray]
    rate: Fraction
    source: str


def is_cut(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether frame ``b`` starts a new shot after frame ``a``."""
    return float(np.abs(b.astype(np.int16) - a.astype(np.int16)).mean()) > SHOT_CHANGE


def chunked(frames: Iterable[np.ndarray], chunk: int = 0) -> Iterator[list[np.ndarray]]:
    """The frames in runs painted in order: a new run at each shot change and, if ``chunk`` > 0,
    every ``chunk`` frames. Holds one run at a time."""
    run: list[np.ndarray] = []
    for frame in frames:
        if run and (is_cut(run[-1], frame) or (chunk and len(run) >= chunk)):
            yield run
            run = []
        run.append(frame)
    if run:
        yield run


def chunks(frames: Sequence[np.ndarray], chunk: int = 0) -> list[tuple[int, int]]:
    """(start, end) of each run of ``chunked``."""
    spans, start = [], 0
    for run in chunked(frames, chunk):
        spans.append((start, start + len(run)))
        start += len(run)
    return spans


def paint_frames(
    frames: Iterable[np.ndarray], styles: Sequence, config: Config, options: VideoOptions, chunk: int = 0
) -> Iterator[np.ndarray]:
    """Paint ``frames`` one by one as they come. The first frame of each run (``chunked``) is
    painted as a picture; each next one starts from the previous painted frame warped onto it and,
    with ``temporal_weight`` > 0, keeps close to it where nothing was occluded."""
    prev_frame = prev = None
    n = 0
    for frame in frames:
        if prev_frame is not None and (is_cut(prev_frame, frame) or (chunk and n >= chunk)):
            prev, n = None, 0
        prev = _paint_frame(frame, prev_frame if prev is not None else None, prev, styles, config, options)
        if prev is None:  # the pool was told to stop
            return
        prev_frame, n = frame, n + 1
        yield images.to_uint8(prev)


def _paint_frame(frame, prev_frame, prev, styles, config: Config, options: VideoOptions):
    h, w = frame.shape[:2]
    cfg = config.replace(size=max(h, w), start_size=max(h, w), scales=None)  # one scale: the init is already fine
    hook = None
    if prev is not None and options.temporal_weight > 0:
        hook = between(prev_frame, frame, prev, options.temporal_weight, options.flow)
        tolerance = FRAME_TOLERANCE if cfg.tolerance is None else cfg.tolerance
        cfg = cfg.replace(iterations=options.frame_iterations or cfg.iterations, tolerance=tolerance)
    painting = stylize_iter(images.from_uint8(frame), styles, cfg, image_every=0, hook=hook)
    for _ in painting:
        if executors.stopping():
            return None
    return painting.current_image()


def paint_chunk(
    frames: Sequence[np.ndarray],
    styles: Sequence,
    config: Config,
    options: VideoOptions,
    on_frame: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> list[np.ndarray]:
    """Paint one chunk's ``frames`` in order (a top-level function, so executors can send it to workers)."""
    if threads:
        torch.set_num_threads(threads)
    painted = []
    for t, out in enumerate(paint_frames(frames, styles, config, options, chunk=len(frames))):
        painted.append(out)
        if on_frame is not None:
            on_frame(t)
    return painted


def paint_stream(
    frames: Iterable[np.ndarray],
    styles: Sequence,
    config: Config,
    options: VideoOptions,
    executor: Executor | None = None,
    threads: int | None = None,
) -> Iterator[np.ndarray]:
    """Every frame painted, in order, as soon as it is ready: here one by one, or on ``executor``
    one chunk per task with at most ``executors.capacity(executor) + 1`` chunks in flight."""
    if executor is None:
        yield from paint_frames(frames, styles, config, options, options.chunk)
        return
    ahead = executors.capacity(executor) + 1
    pending: deque = deque()
    for run in chunked(frames, options.chunk or WORKER_CHUNK):
        pending.append(executor.submit(paint_chunk, run, list(styles), config, options, None, threads))
        while len(pending) >= ahead:
            yield from pending.popleft().result()
    while pending:
        yield from pending.popleft().result()


def paint(
    clip: Clip,
    styles: Sequence,
    config: Config,
    options: VideoOptions,
    executor: Executor | None = None,
    on_frame: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> list[np.ndarray]:
    """Every frame of ``clip`` painted (``paint_stream``), as a list; ``on_frame(t)`` after each."""
    out = []
    for t, frame in enumerate(paint_stream(clip.frames, styles, config, options, executor, threads)):
        out.append(frame)
        if on_frame is not None:
            on_frame(t)
    return out
