"""The optimization loop: ``stylize_iter`` yields one immutable ``Progress`` per step and
``stylize`` runs it to the end.

Coarse to fine (Gatys et al. 2017 §6): the picture is painted at each size of
``config.schedule()`` in turn, the result of one scale upsampled to start the next. At each
scale the targets (content activations, style statistics) are computed once, without gradients;
the image's pixels are the only thing optimized.

No lost work: the run keeps its best picture of the scale; a step whose loss or gradient is not
finite sends it back there with a fresh optimizer (Adam at half the step), and a second one stops
the run with ``DivergedError``. ``Painting.checkpoint()`` is what ``resume=`` continues from.

This module is only the loop; what it runs is built elsewhere: the network (``network.py``), each
scale's plan, objective and starting picture (``scales.py``), one optimizer step (``optimize.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import cast

import torch
from torch import Tensor

from . import checkpoint, images, optimize
from .config import Config
from .events import Progress, Result  # noqa: F401 (Result re-exported)
from .inputs import Inputs, prepare
from .scales import Hook, OutOfMemory, Plan, Run, finish, memory_guard, plans  # noqa: F401 (OutOfMemory re-exported)
from .schedule import Convergence, upsample


class DivergedError(RuntimeError):
    """The loss or gradient stopped being finite twice; the best picture so far is kept."""


class Painting(Iterator[Progress]):
    """The iterator ``stylize_iter`` returns, made from inputs already read and checked, so bad ones
    fail before any work. Besides the events it offers ``current_image()`` (the best
    picture so far, for a caller interrupted between steps) and ``checkpoint()``."""

    def __init__(self, inputs: Inputs, config: Config, image_every: int, resume: Mapping | None, hook: Hook | None):
        self.config, self.inputs, self._image_every, self._hook = config, inputs, image_every, hook
        self._resume = checkpoint.check(dict(resume), config, inputs) if resume is not None else None
        if config.tile_size:  # tiles the options cannot use: refused now, not after the network is loaded
            plans(config, inputs, torch.device("cpu"))  # an explicit tile size needs no device
        self._at = checkpoint.State()  # where the run stands (its best picture, steps, failures)
        self._opt, self._stopping = None, False  # _stopping: set by stop(), from another thread
        self._gen = self._run()

    def __next__(self) -> Progress:
        try:
            return next(self._gen)
        except KeyboardInterrupt:  # a generator that raised is over: iterating again continues from here
            self._resume, self._gen = self.checkpoint(), self._run()
            raise

    def current_image(self) -> Tensor | None:
        """The best picture so far (CPU, clamped, colours applied), or None before step 1."""
        # The best picture is set with each scale's starting picture, before its first step.
        return None if self._at.best is None else finish(self._at.best, self.config, self.inputs.content)

    def stop(self) -> None:
        """Ask the run, from another thread (the studio's cancel), to end before its next phase of setup
        (the network, a scale's targets), where one ``next()`` can take long; between steps, stop iterating."""
        self._stopping = True

    def checkpoint(self) -> dict | None:
        """What ``stylize_iter(..., resume=)`` (CLI: ``--resume``) continues from; None before step 1."""
        return None if self._at.best is None else self._at.checkpoint(self.config, self.inputs, self._opt)

    def _run(self) -> Iterator[Progress]:
        resume, x = self._resume, None
        self._at = at = checkpoint.State.of(resume) if resume else checkpoint.State()
        self._t0 = time.perf_counter() - at.elapsed  # a resumed run's time goes on
        run = Run.make(self.config, self.inputs, self._hook)
        plans = run.plans()
        self._sizes = tuple(p.size for p in plans)
        at.steps = at.steps or tuple(p.steps for p in plans)
        with memory_guard(plans[-1], run.device):
            unit = run.style_unit(plans[-1])
        for k, plan in enumerate(plans):
            if k < at.scale:  # a resumed run: a scale done before the checkpoint
                continue
            if self._stopping:
                return
            with memory_guard(plan, run.device):
                objective, c_img = run.objective(plan, unit)
            if self._stopping:
                return
            if resume:  # the checkpoint's scale: from its best picture, after the steps it did
                x = resume["best"].to(run.device)
            x = run.start(c_img) if x is None else upsample(x.detach(), c_img, self.config.scale_detail)
            x = x.contiguous().requires_grad_(True)
            at.best, at.best_losses = x.detach().clone(), (at.best_losses if resume else {})
            self._opt = optimize.optimizer(self.config, x, plan.steps, at.lr_scale)
            if resume and "adam" in resume and isinstance(self._opt, torch.optim.Adam):
                self._opt.load_state_dict(resume["adam"])
            skip, resume = (at.scale_step if resume else 0), None
            yield from self._scale(k, plan, objective, x, skip, run.device)

    def _scale(self, k: int, plan: Plan, objective, x: Tensor, skip: int, device) -> Iterator[Progress]:
        """The steps of scale ``k`` on ``x`` after the ``skip`` done before a resume."""
        at, stop = self._at, Convergence(self.config.tol)
        for done in range(skip + 1, plan.steps + 1):
            with memory_guard(plan, device):
                losses, ok, before = optimize.step(self._opt, objective, x, self.config.optimizer == "adam")
            step = at.step + 1
            if not ok:
                losses = self._recover(x, step, plan.steps)
            elif losses["total"] < at.best_losses.get("total", math.inf):
                at.best, at.best_losses = before, losses
            converged = done < plan.steps and stop.update(at.best_losses.get("total", math.inf))
            if converged:  # the scale ends here: the steps it leaves out leave the total too
                at.steps = (*at.steps[:k], done, *at.steps[k + 1 :])
            at.scale, at.scale_step, at.step, at.elapsed = k, done, step, time.perf_counter() - self._t0
            total = sum(at.steps)
            want = step == total or (self._image_every > 0 and step % self._image_every == 0)
            yield Progress(
                step=step,
                iterations=total,
                losses=losses,
                elapsed=at.elapsed,
                image=self.current_image() if want else None,
                scale=k,
                sizes=self._sizes,
                recovered=not ok,
                steps=at.steps,
            )
            if converged:
                return

    def _recover(self, x: Tensor, step: int, steps: int) -> dict[str, float]:
        """Back to the best picture with a fresh optimizer; the second time, stop."""
        at = self._at
        assert at.best is not None  # _run sets it with the scale's picture, before the first step
        with torch.no_grad():
            x.copy_(at.best)
        at.failures += 1
        if at.failures > 1:
            raise DivergedError(
                f"the loss or its gradient became NaN or infinite again at step {step}; "
                f"stopped, keeping the best picture so far (try a smaller --learning-rate)"
            )
        if self.config.optimizer == "adam":
            at.lr_scale *= 0.5
        self._opt = optimize.optimizer(self.config, x, steps, at.lr_scale)
        return dict(at.best_losses) or {"total": math.nan}


def stylize_iter(
    content: images.ImageLike,
    styles: Sequence[images.ImageLike],
    config: Config | None = None,
    *,
    image_every: int | None = None,
    masks: Mapping[int, images.ImageLike] | None = None,
    resume: Mapping | None = None,
    hook: Hook | None = None,
) -> Painting:
    """Paint ``content`` in the style of ``styles`` step by step.

    Yields one ``Progress`` per step; the last one (``done``) carries the final image. Other
    events carry the image every ``image_every`` steps (default: ``config.save_every``).
    Inputs may be paths, PIL images or ``(3, H, W)``/``(1, 3, H, W)`` tensors in [0, 1]. ``masks``
    maps a style's index to a mask image (white = paint this style there), besides
    ``config.style_masks``. ``resume``: a ``Painting.checkpoint()`` (or ``checkpoint.load(path)``)
    of the same run, which then continues where it stood. Inputs and options are checked here,
    before any work: errors are ``ConfigError`` or ``ImageError``. ``hook``: a ``scales.Hook`` that
    gives the starting picture and adds to each scale's objective (a video frame's
    ``temporal.Temporal``: Ruder et al.'s warped previous frame and temporal cost).
    """
    config = config or Config()
    every = config.save_every if image_every is None else image_every
    return Painting(prepare(content, styles, config, masks), config, every, resume, hook)


def stylize(
    content: images.ImageLike,
    styles: Sequence[images.ImageLike] | images.ImageLike,
    config: Config | None = None,
    *,
    masks: Mapping[int, images.ImageLike] | None = None,
) -> Result:
    """Paint ``content`` in the style of ``styles`` (one image or a list); returns a ``Result``."""
    # A str is a Sequence too: only a list or tuple is several styles (mypy cannot narrow this).
    style_list: Sequence[images.ImageLike] = (
        styles if isinstance(styles, (list, tuple)) else [cast(images.ImageLike, styles)]
    )
    config = config or Config()
    last = None
    for last in stylize_iter(content, style_list, config, image_every=0, masks=masks):  # noqa: B007 (the last one)
        pass
    # A painting yields at least one step, and its last (done) one carries the picture.
    assert last is not None and last.image is not None
    return Result(image=last.image, losses=last.losses, steps=last.step, elapsed=last.elapsed, config=config)
