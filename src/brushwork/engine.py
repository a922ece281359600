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
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import cast

import torch
from torch import Tensor

from . import checkpoint, images, optimize
from .config import Config
from .events import Progress, Result, run_params  # noqa: F401 (re-exported)
from .inputs import Inputs, prepare
from .scales import Hook, OutOfMemory, Plan, Run, finish, memory_guard  # noqa: F401 (OutOfMemory re-exported)
from .schedule import Convergence, upsample


class DivergedError(RuntimeError):
    """The loss or gradient stopped being finite twice; the best picture so far is kept."""


Steps = Generator[Progress, None, int]  # a scale's events, then the steps done in all


class Painting(Iterator[Progress]):
    """The iterator ``stylize_iter`` returns. Its inputs are read and checked when it is made, so
    bad ones fail before any work. Besides the events it offers ``current_image()`` (the best
    picture so far, for a caller interrupted between steps) and ``checkpoint()``."""

    def __init__(
        self,
        content,
        styles: Sequence,
        config: Config,
        image_every: int | None,
        masks: Mapping | None,
        resume: Mapping | None = None,
        hook: Hook | None = None,
    ):
        self.config, self._hook = config, hook
        self._image_every = config.save_every if image_every is None else image_every
        self.inputs: Inputs = prepare(content, styles, config, masks)
        self._resume = checkpoint.check(dict(resume), config, self.inputs) if resume is not None else None
        self._best: Tensor | None = None  # the best picture of the running scale (on the device)
        self._best_losses: dict[str, float] = {}
        self._where = (0, 0, 0)  # (scale, steps done in it, steps done in all)
        self._failures, self._lr_scale, self._elapsed = 0, 1.0, 0.0
        self._caps: tuple[int, ...] = ()  # steps per scale: its cap, or what it took if it converged early
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
        # _best is set with each scale's starting picture, before its first step.
        return None if self._best is None else finish(self._best, self.config, self.inputs.content)

    def stop(self) -> None:
        """Ask the run, from another thread (the studio's cancel), to end before its next phase of setup
        (the network, a scale's targets), where one ``next()`` can take long; between steps, stop iterating."""
        self._stopping = True

    def checkpoint(self) -> dict | None:
        """What ``stylize_iter(..., resume=)`` (CLI: ``--resume``) continues from; None before step 1."""
        if self._best is None:
            return None
        state = {
            "config": self.config.to_json(),
            "inputs": checkpoint.inputs_digest(self.inputs),
            **dict(zip(("scale", "scale_step", "step"), self._where, strict=False)),
            "steps": list(self._caps),
            "elapsed": self._elapsed,
            "best": self._best.detach().float().cpu().clone(),
            "best_losses": dict(self._best_losses),
            "failures": self._failures,
            "lr_scale": self._lr_scale,
        }
        if isinstance(self._opt, torch.optim.Adam):
            state["adam"] = self._opt.state_dict()
        return state

    def _run(self) -> Iterator[Progress]:
        resume, x, step = self._resume, None, 0
        self._t0 = time.perf_counter() - (resume["elapsed"] if resume else 0.0)  # a resumed run's time goes on
        run = Run.make(self.config, self.inputs, self._hook)
        plans = run.plans()
        self._sizes = tuple(p.size for p in plans)
        self._caps = tuple((resume.get("steps") if resume else None) or [p.steps for p in plans])
        for k, plan in enumerate(plans):
            if resume and k < resume["scale"]:
                continue
            if self._stopping:
                return
            with memory_guard(plan, run.device):
                objective, c_img = run.objective(plan)
            if self._stopping:
                return
            if resume:  # the checkpoint's scale: from its best picture, after the steps it did
                step, x = resume["step"], resume["best"].to(run.device)
            x = run.start(c_img) if x is None else upsample(x.detach(), c_img, self.config.scale_detail)
            x = x.contiguous().requires_grad_(True)
            self._best, self._best_losses = x.detach().clone(), {}
            self._opt = optimize.optimizer(self.config, x, plan.steps, self._lr_scale)
            skip, resume = (self._restore(resume, x, plan.steps) if resume else 0), None
            step = yield from self._scale(k, plan, objective, x, step, skip, run.device)

    def _scale(self, k: int, plan: Plan, objective, x: Tensor, step: int, skip: int, device) -> Steps:
        """The steps of scale ``k`` on ``x`` after the ``skip`` done before a resume; returns the steps done in all."""
        stop = Convergence(self.config.tolerance)
        for done in range(skip + 1, plan.steps + 1):
            with memory_guard(plan, device):
                losses, ok, before = optimize.step(self._opt, objective, x, self.config.optimizer == "adam")
            step += 1
            if not ok:
                losses = self._recover(x, step, plan.steps)
            elif losses["total"] < self._best_losses.get("total", math.inf):
                self._best, self._best_losses = before, losses
            converged = done < plan.steps and stop.update(self._best_losses.get("total", math.inf))
            if converged:  # the scale ends here: the steps it leaves out leave the total too
                self._caps = (*self._caps[:k], done, *self._caps[k + 1 :])
            self._where, self._elapsed = (k, done, step), time.perf_counter() - self._t0
            total = sum(self._caps)
            want = step == total or (self._image_every > 0 and step % self._image_every == 0)
            yield Progress(
                step=step,
                iterations=total,
                losses=losses,
                elapsed=self._elapsed,
                image=self.current_image() if want else None,
                scale=k,
                sizes=self._sizes,
                recovered=not ok,
                steps=self._caps,
            )
            if converged:
                return step
        return step

    def _recover(self, x: Tensor, step: int, steps: int) -> dict[str, float]:
        """Back to the best picture with a fresh optimizer; the second time, stop."""
        assert self._best is not None  # _run sets it with the scale's picture, before the first step
        with torch.no_grad():
            x.copy_(self._best)
        self._failures += 1
        if self._failures > 1:
            raise DivergedError(
                f"the loss or its gradient became NaN or infinite again at step {step}; "
                f"stopped, keeping the best picture so far (try a smaller --learning-rate)"
            )
        if self.config.optimizer == "adam":
            self._lr_scale *= 0.5
        self._opt = optimize.optimizer(self.config, x, steps, self._lr_scale)
        return dict(self._best_losses) or {"total": math.nan}

    def _restore(self, state: Mapping, x: Tensor, steps: int) -> int:
        """Take up a checkpoint's optimizer state for ``x``; returns the steps it had done in its scale."""
        self._best_losses = dict(state["best_losses"])
        self._failures, self._lr_scale = state["failures"], state["lr_scale"]
        self._opt = optimize.optimizer(self.config, x, steps, self._lr_scale)
        if "adam" in state and isinstance(self._opt, torch.optim.Adam):
            self._opt.load_state_dict(state["adam"])
        return state["scale_step"]


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
    return Painting(content, styles, config or Config(), image_every, masks, resume, hook)


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
