"""The optimization loop: ``stylize_iter`` yields one immutable ``Progress`` per step and
``stylize`` runs it to the end.

Coarse to fine (Gatys et al. 2017 §6): the picture is painted at each size of
``config.schedule()`` in turn, the result of one scale upsampled to start the next. At each
scale the targets (content activations, style statistics) are computed once, without gradients;
the image's pixels are the only thing optimized.

No lost work: the run keeps its best picture of the scale; a step whose loss or gradient is not
finite sends it back there with a fresh optimizer (Adam at half the step), and a second one stops
the run with ``DivergedError``. ``Painting.checkpoint()`` is what ``resume=`` continues from.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

import torch
from torch import Tensor

from . import cache, checkpoint, color, images, tiles
from .config import Config, ConfigError
from .devices import resolve, resolve_precision, tune
from .events import Progress, Result, run_params  # noqa: F401 (re-exported)
from .inputs import Inputs, prepare, style_at
from .lbfgs import LBFGS
from .objective import Objective, StyleTargets
from .schedule import Convergence, upsample
from .vgg import VGG19Features
from .weights import load_weights

if TYPE_CHECKING:
    from .temporal import Temporal


class DivergedError(RuntimeError):
    """The loss or gradient stopped being finite twice; the best picture so far is kept."""


class OutOfMemory(RuntimeError):
    """A scale did not fit in memory; the message names the size and what to try."""


class Painting:
    """The iterator ``stylize_iter`` returns. Its inputs are read and checked when it is made, so
    bad ones fail before any work. Besides the events it offers ``current_image()`` (the best
    picture so far, for a caller interrupted between steps) and ``checkpoint()``."""

    def __init__(self, content, styles: Sequence, config: Config, image_every: int | None,
                 masks: Mapping | None, resume: Mapping | None = None, init: Tensor | None = None,
                 temporal: "Temporal | None" = None):
        self.config, self._init_image, self._temporal = config, init, temporal
        self._image_every = config.save_every if image_every is None else image_every
        self.inputs: Inputs = prepare(content, styles, config, masks)
        self._resume = checkpoint.check(dict(resume), config, self.inputs) if resume is not None else None
        self._x: Tensor | None = None
        self._best: Tensor | None = None  # the best picture of the running scale (on the device)
        self._best_losses: dict[str, float] = {}
        self._where = (0, 0, 0)  # (scale, steps done in it, steps done in all)
        self._failures, self._lr_scale, self._elapsed = 0, 1.0, 0.0
        self._caps: tuple[int, ...] = ()  # steps per scale, as the last event said
        self._opt = None
        self._stopping = False  # set by stop(), from another thread
        self._gen = self._run()

    def __iter__(self) -> "Painting":
        return self

    def __next__(self) -> Progress:
        try:
            return next(self._gen)
        except KeyboardInterrupt:  # a generator that raised is over: iterating again continues from here
            self._resume, self._gen = self.checkpoint(), self._run()
            raise

    def current_image(self) -> Tensor | None:
        """The best picture so far (CPU, clamped, colours applied), or None before step 1."""
        x = self._best if self._best is not None else self._x
        if x is None:
            return None
        return self._finish(x)

    def stop(self) -> None:
        """Ask the run, from another thread (the studio's cancel), to end before its next phase of
        setup (the network, a scale's targets): one ``next()`` there can take long. Between steps a
        caller simply stops iterating."""
        self._stopping = True

    def checkpoint(self) -> dict | None:
        """What ``stylize_iter(..., resume=)`` (CLI: ``--resume``) continues from; None before step 1."""
        if self._best is None:
            return None
        scale, in_scale, step = self._where
        state = {"config": self.config.to_json(), "inputs": checkpoint.inputs_digest(self.inputs),
                 "scale": scale, "scale_step": in_scale, "step": step, "steps": list(self._caps),
                 "elapsed": self._elapsed,
                 "best": self._best.detach().float().cpu().clone(), "best_losses": dict(self._best_losses),
                 "failures": self._failures, "lr_scale": self._lr_scale}
        if isinstance(self._opt, torch.optim.Adam):
            state["adam"] = self._opt.state_dict()
        return state

    def _finish(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            out = x.detach().clamp(0, 1).float().cpu()  # the content stays on the CPU
            if self.config.color in ("keep", "luminance"):
                out = color.keep_colors(images.resize(self.inputs.content, tuple(out.shape[-2:])), out)
            return out.clone()

    def _run(self) -> Iterator[Progress]:
        cfg, inp, resume = self.config, self.inputs, self._resume
        device = resolve(cfg.device)
        start = time.perf_counter() - (resume["elapsed"] if resume else 0.0)
        work_content, work_styles = inp.working(cfg.color)
        net, net_key = _network(cfg, device)
        plans = [self._plan(size, steps, device) for size, steps in zip(cfg.schedule(), cfg.steps())]
        sizes = tuple(p.size for p in plans)
        # Steps per scale: the caps, and a scale that converged early at what it took (the
        # checkpoint knows those of the scales before it).
        caps = list(resume["steps"]) if resume and "steps" in resume else [p.steps for p in plans]
        step, x = 0, None
        for k, plan in enumerate(plans):
            if resume and k < resume["scale"]:
                continue
            resuming = resume is not None and k == resume["scale"]
            skip = resume["scale_step"] if resuming else 0
            step = resume["step"] if resuming else step
            if resuming:
                x = resume["best"].to(device)
            if self._stopping:
                return
            with _memory_guard(plan, device):
                objective, c_img = self._objective(net, net_key, plan, work_content, work_styles, device)
            if self._stopping:
                return
            x = self._init(c_img, device) if x is None else upsample(x.detach(), c_img, cfg.scale_detail)
            self._x = x = x.contiguous().requires_grad_(True)
            self._best, self._best_losses = x.detach().clone(), {}
            self._opt = self._optimizer(x, plan.steps)
            if resuming:
                self._restore(resume, plan.steps)
                resume = None
            stop = Convergence(cfg.tolerance)
            for done in range(skip + 1, plan.steps + 1):
                with _memory_guard(plan, device):
                    losses, ok = self._step(objective, x)
                step += 1
                if not ok:
                    losses = self._recover(x, step, plan.steps)
                converged = done < plan.steps and stop.update(self._best_losses.get("total", math.inf))
                if converged:  # the scale ends here: the steps it leaves out leave the total too
                    caps[k] = done
                self._where, self._elapsed, self._caps = (k, done, step), time.perf_counter() - start, tuple(caps)
                want = step == sum(caps) or (self._image_every > 0 and step % self._image_every == 0)
                yield Progress(step=step, iterations=sum(caps), losses=losses, elapsed=self._elapsed,
                               image=self.current_image() if want else None, scale=k, sizes=sizes,
                               recovered=not ok, steps=tuple(caps))
                if converged:
                    break

    def _objective(self, net, net_key, plan: "_Plan", work_content: Tensor, work_styles: list[Tensor], device):
        cfg = self.config
        c_img = images.resize(work_content, plan.hw).to(device)
        s_imgs = [style_at(s, plan.size, cfg) for s in work_styles]
        m_imgs = {i: images.resize(m, plan.hw) for i, m in self.inputs.masks.items()}
        # The same style pictures and settings give the same targets: reuse them across runs.
        key = (net_key, cfg.style_layers, cfg.style_loss, self.inputs.blend, cache.images_key(s_imgs),
               cache.masks_key(m_imgs))
        targets = cache.STYLE_TARGETS.get(key, lambda: StyleTargets(
            net, cfg, [s.to(device) for s in s_imgs], self.inputs.blend, {i: m.to(device) for i, m in m_imgs.items()}))
        if plan.side is None:
            objective = Objective(net, cfg, c_img, targets)
        else:
            objective = tiles.TiledObjective(net, cfg, c_img, targets, plan.side)
        if self._temporal is not None:
            objective = self._temporal.at(objective, plan.hw, device)
        return objective, c_img

    def _plan(self, size: int, steps: int, device: torch.device) -> "_Plan":
        cfg = self.config
        hw = images.fit(size, *self.inputs.content.shape[-2:])
        side = tiles.tile_side(hw, cfg.tile_size, device)
        if side is not None and (cfg.style_loss != "gram" or cfg.normalize_gradients):
            raise ConfigError(f"a {hw[1]}×{hw[0]} px picture must be painted in tiles, which support only "
                              f"--style-loss gram without --normalize-gradients; lower --size")
        return _Plan(size, hw, steps, side)

    def _step(self, objective, x: Tensor) -> tuple[dict[str, float], bool]:
        """One optimizer step; (the losses at the picture it started from, whether all was finite)."""
        terms: dict[str, Tensor] = {}
        before = x.detach().clone()  # the losses belong to this picture, not the one the step makes

        def closure() -> Tensor:
            self._opt.zero_grad(set_to_none=True)
            J, parts = objective.backward(x)
            terms.update(parts, total=J)
            return J

        self._opt.step(closure)
        with torch.no_grad():
            if self.config.optimizer == "adam":
                x.clamp_(0, 1)  # Adam steps stay in the valid pixel range; L-BFGS keeps its curvature pairs.
            finite = torch.isfinite(x).all() & torch.isfinite(x.grad).all()
            # One device-to-host copy for all the terms and the check, not one per term.
            values = torch.stack([*(v.float() for v in terms.values()), finite.float()]).tolist()
        losses = dict(zip(terms, values[:-1]))
        ok = values[-1] == 1.0 and all(math.isfinite(v) for v in values[:-1])
        if ok and losses["total"] < self._best_losses.get("total", math.inf):
            self._best, self._best_losses = before, losses
        return losses, ok

    def _recover(self, x: Tensor, step: int, steps: int) -> dict[str, float]:
        """Back to the best picture with a fresh optimizer; the second time, stop."""
        with torch.no_grad():
            x.copy_(self._best)
        self._failures += 1
        if self._failures > 1:
            raise DivergedError(f"the loss or its gradient became NaN or infinite again at step {step}; "
                                f"stopped, keeping the best picture so far (try a smaller --learning-rate)")
        if self.config.optimizer == "adam":
            self._lr_scale *= 0.5
        self._opt = self._optimizer(x, steps)
        return dict(self._best_losses) or {"total": math.nan}

    def _restore(self, state: Mapping, steps: int) -> None:
        self._best_losses = dict(state["best_losses"])
        self._failures, self._lr_scale = state["failures"], state["lr_scale"]
        self._opt = self._optimizer(self._x, steps)
        if "adam" in state and isinstance(self._opt, torch.optim.Adam):
            self._opt.load_state_dict(state["adam"])

    def _init(self, content_img: Tensor, device: torch.device) -> Tensor:
        cfg = self.config
        if self._init_image is not None:  # a video's previous frame, warped (Ruder et al. 2016)
            return images.resize(self._init_image.float(), tuple(content_img.shape[-2:])).to(device).clone()
        if cfg.init == "content":
            return content_img.clone()
        if cfg.init == "noise":
            gen = torch.Generator().manual_seed(cfg.seed)
            # White noise around mid-grey (Gatys et al. start from white noise).
            noise = torch.rand(content_img.shape, generator=gen)
            return (0.5 + 0.5 * (noise - 0.5)).to(device)
        return images.resize(self.inputs.init, tuple(content_img.shape[-2:])).to(device)

    def _optimizer(self, x: Tensor, steps: int):
        cfg = self.config
        if cfg.optimizer == "adam":
            return torch.optim.Adam([x], lr=cfg.lr * self._lr_scale)
        # One L-BFGS iteration per step() call, 100 pairs of history as jcjohnson's nCorrection
        # (fewer when the scale has fewer steps: memory); no early stop, no line search.
        return LBFGS(x, lr=cfg.lr, history=min(100, steps))


@dataclass(frozen=True)
class _Plan:
    """One scale: its size, the picture's (h, w), its steps and tile side (None: whole picture)."""

    size: int
    hw: tuple[int, int]
    steps: int
    side: int | None


def _network(cfg: Config, device: torch.device) -> tuple[VGG19Features, tuple]:
    """VGG19 cut after the deepest layer the run needs, on ``device`` in the run's precision;
    built once per process for each such combination (and weights file version)."""
    dtype = resolve_precision(cfg.precision, device)
    tune(device)
    channels_last = dtype != torch.float32 or device.type == "cuda"
    last = cfg.deepest_layer
    stamp = None  # a weights file changed in place gives another network
    if cfg.weights and Path(cfg.weights).is_file():
        st = Path(cfg.weights).stat()
        stamp = (st.st_size, st.st_mtime_ns)
    key = (cfg.weights, stamp, cfg.weights_format, last, cfg.pooling, str(device), dtype, channels_last)

    def build() -> VGG19Features:
        net = VGG19Features(load_weights(cfg.weights, cfg.weights_format), last=last, pooling=cfg.pooling)
        return net.to(device).set_precision(dtype, channels_last=channels_last)

    return cache.NETWORKS.get(key, build), key


@contextmanager
def _memory_guard(plan: "_Plan", device: torch.device):
    """Turns running out of memory (CPU or GPU) into ``OutOfMemory`` naming the size and what to try."""
    try:
        yield
    except (MemoryError, RuntimeError) as e:  # torch.OutOfMemoryError is a RuntimeError
        text = str(e).lower()
        if not isinstance(e, (MemoryError, torch.OutOfMemoryError)) and \
                "out of memory" not in text and "can't allocate memory" not in text:
            raise
        h, w = plan.hw
        raise OutOfMemory(f"out of memory painting {w}×{h} px on {device}: try a smaller --size, "
                          f"tiles (--tile-size 512) or --optimizer adam, which needs less memory") from None


def stylize_iter(content: images.ImageLike, styles: Sequence[images.ImageLike], config: Config | None = None,
                 *, image_every: int | None = None, masks: Mapping[int, images.ImageLike] | None = None,
                 resume: Mapping | None = None, init: Tensor | None = None,
                 temporal: "Temporal | None" = None) -> Painting:
    """Paint ``content`` in the style of ``styles`` step by step.

    Yields one ``Progress`` per step; the last one (``done``) carries the final image. Other
    events carry the image every ``image_every`` steps (default: ``config.save_every``).
    Inputs may be paths, PIL images or ``(3, H, W)``/``(1, 3, H, W)`` tensors in [0, 1]. ``masks``
    maps a style's index to a mask image (white = paint this style there), besides
    ``config.style_masks``. ``resume``: a ``Painting.checkpoint()`` (or ``checkpoint.load(path)``)
    of the same run, which then continues where it stood. Inputs and options are checked here,
    before any work: errors are ``ConfigError`` or ``ImageError``. ``init``: a ``(1, 3, H, W)``
    picture to start from instead of ``config.init``; ``temporal``: a ``video.Temporal`` adding
    Ruder et al.'s temporal cost (both for video frames).
    """
    return Painting(content, styles, config or Config(), image_every, masks, resume, init, temporal)


def stylize(content: images.ImageLike, styles: Sequence[images.ImageLike] | images.ImageLike,
            config: Config | None = None, *, masks: Mapping[int, images.ImageLike] | None = None) -> Result:
    """Paint ``content`` in the style of ``styles`` (one image or a list); returns a ``Result``."""
    if not isinstance(styles, (list, tuple)):
        styles = [styles]
    config = config or Config()
    last = None
    for last in stylize_iter(content, styles, config, image_every=0, masks=masks):
        pass
    return Result(image=last.image, losses=last.losses, steps=last.step, elapsed=last.elapsed, config=config)
