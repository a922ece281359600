"""What each scale of a run is built from, so that ``engine.Painting`` is just the loop: the plan
of the scales (size, steps, tiles), the objective of one scale (``Run.objective``: content
target, cached style targets, tiles, and the caller's ``Hook``), the picture a run starts from,
the finished picture (colours applied), and the guard that names the size that ran out of memory."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from . import cache, color, graphs, images, style_costs, tiles
from .config import GRAM_UNITS, Config, ConfigError
from .devices import resolve
from .inputs import Inputs, style_at
from .network import network
from .objective import Objective, StyleTargets
from .vgg import VGG19Features


class OutOfMemory(RuntimeError):
    """A scale did not fit in memory; the message names the size and what to try."""


class Hook(Protocol):
    """How a caller changes every scale of a run (a video frame: Ruder et al. 2016 start from the
    previous painted frame and add a temporal cost). ``content`` is the photo at the scale's size,
    on the device."""

    def start(self, content: Tensor) -> Tensor:
        """The picture the run starts from, instead of ``config.init``."""

    def wrap(self, objective, content: Tensor):
        """The scale's objective with what the caller adds; it keeps ``backward(x) -> (J, terms)``."""


@dataclass(frozen=True)
class Plan:
    """One scale: its size, the picture's (h, w), its steps and tile side (None: whole picture)."""

    size: int
    hw: tuple[int, int]
    steps: int
    side: int | None


@dataclass(frozen=True)
class Run:
    """A run's settings, pictures (as the optimization sees them, CPU), device and network."""

    config: Config
    inputs: Inputs
    device: torch.device
    net: VGG19Features
    net_key: tuple
    content: Tensor
    styles: list[Tensor]
    hook: Hook | None = None

    @classmethod
    def make(cls, config: Config, inputs: Inputs, hook: Hook | None = None) -> Run:
        device = resolve(config.device)
        content, styles = inputs.working(config.color)
        net, net_key = network(config, device)
        return cls(config, inputs, device, net, net_key, content, styles, hook)

    def plans(self) -> list[Plan]:
        return plans(self.config, self.inputs, self.device)

    def _targets(self, plan: Plan, cfg: Config) -> StyleTargets:
        """The style targets of one scale, cached: the same pictures and settings give the same ones."""
        device = self.device
        s_imgs = [style_at(s, plan.size, cfg) for s in self.styles]
        m_imgs = {i: images.resize(m, plan.hw) for i, m in self.inputs.masks.items()}
        key = (
            self.net_key,
            cfg.style_layers,
            cfg.style_loss,
            self.inputs.blend,
            cache.images_key(s_imgs),
            cache.masks_key(m_imgs),
        )
        return cache.STYLE_TARGETS.get(
            key,
            lambda: StyleTargets(
                self.net,
                cfg,
                [s.to(device) for s in s_imgs],
                self.inputs.blend,
                {i: m.to(device) for i, m in m_imgs.items()},
            ),
        )

    def style_unit(self, plan: Plan) -> float:
        """The style cost's scale for every scale of the run (``Config.gram_units``): gram's style
        cost of the photo over the run's own, both at ``plan``'s size (the last scale's, where the
        picture is judged); 1 for gram and nn, with ``--no-gram-units`` or gradient normalization
        (which takes out any scale)."""
        cfg = self.config
        if not cfg.gram_units or cfg.style_loss not in GRAM_UNITS or cfg.normalize_gradients:
            return 1.0
        c_img = images.resize(self.content, plan.hw).to(self.device)
        gram = cfg.replace(style_loss="gram")
        with torch.no_grad():  # one pass of the photo serves both objectives
            acts = self.net(c_img, (cfg.content_layer, *cfg.style_layers))
            gen = torch.Generator().manual_seed(cfg.seed)  # swd's directions: the same in a repeated run
            J = [
                Objective(self.net, c, c_img, self._targets(plan, c), a_C=acts[cfg.content_layer]).style(
                    acts, c_img, gen
                )
                for c in (gram, cfg)
            ]
        return style_costs.gram_unit(J[0].item(), J[1].item(), GRAM_UNITS[cfg.style_loss])

    def objective(self, plan: Plan, unit: float = 1.0):
        """(the objective of one scale, its style cost times ``unit``; the photo at its size on the device)."""
        cfg, device = self.config, self.device
        c_img = images.resize(self.content, plan.hw).to(device)
        targets = self._targets(plan, cfg)
        objective: Objective | tiles.TiledObjective | graphs.Graphed
        if plan.side is None:
            objective = Objective(self.net, cfg, c_img, targets, unit)
        else:
            objective = tiles.TiledObjective(self.net, cfg, c_img, targets, plan.side)
        if self.hook is not None:
            objective = self.hook.wrap(objective, c_img)
        if graphs.wanted(cfg, device, tiled=plan.side is not None, hooked=self.hook is not None):
            objective = graphs.Graphed(objective, c_img)
        return objective, c_img

    def start(self, content: Tensor) -> Tensor:
        """The first scale's starting picture: the hook's, the photo, seeded noise or ``--init``'s."""
        cfg = self.config
        if self.hook is not None:
            return self.hook.start(content)
        if cfg.init == "content":
            return content.clone()
        if cfg.init == "noise":
            gen = torch.Generator().manual_seed(cfg.seed)
            # White noise around mid-grey (Gatys et al. start from white noise).
            noise = torch.rand(content.shape, generator=gen)
            return (0.5 + 0.5 * (noise - 0.5)).to(self.device)
        assert self.inputs.init is not None  # config.init names a picture, which prepare() read
        return images.resize(self.inputs.init, tuple(content.shape[-2:])).to(self.device)


def plans(config: Config, inputs: Inputs, device: torch.device) -> list[Plan]:
    """Each scale's plan; a ``ConfigError`` if one must be painted in tiles and the options cannot
    be. An explicit ``--tile-size`` decides without the device, so ``engine.Painting`` checks it
    before any work."""
    out = []
    for size, steps in zip(config.schedule(), config.steps(), strict=False):
        hw = images.fit(size, *inputs.content.shape[-2:])
        side = tiles.tile_side(hw, config.tile_size, device)
        if side is not None and (config.style_loss != "gram" or config.normalize_gradients):
            raise ConfigError(_no_tiles(config, hw))
        out.append(Plan(size, hw, steps, side))
    return out


def _no_tiles(config: Config, hw: tuple[int, int]) -> str:
    """Why a picture that must be painted in tiles cannot be, and what to do, in one line."""
    picture = f"a {hw[1]}×{hw[0]} px picture"
    only = "which support only --style-loss gram without --normalize-gradients"
    if config.tile_size:
        return f"--tile-size {config.tile_size} cuts {picture} into tiles, {only}; give --tile-size 0 (no tiles)"
    return f"{picture} must be painted in tiles (too little memory for it whole), {only}; lower --size"


def finish(x: Tensor, config: Config, content: Tensor) -> Tensor:
    """The picture as the caller gets it: CPU, clamped, float32, the photo's colours put back when asked."""
    with torch.no_grad():
        out = x.detach().clamp(0, 1).float().cpu()  # the content stays on the CPU
        if config.color in ("keep", "luminance"):
            out = color.keep_colors(images.resize(content, tuple(out.shape[-2:])), out)
        return out.clone()


@contextmanager
def memory_guard(plan: Plan, device: torch.device):
    """Turns running out of memory (CPU or GPU) into ``OutOfMemory`` naming the size and what to try."""
    try:
        yield
    except (MemoryError, RuntimeError) as e:  # torch.OutOfMemoryError is a RuntimeError
        text = str(e).lower()
        if (
            not isinstance(e, (MemoryError, torch.OutOfMemoryError))
            and "out of memory" not in text
            and "can't allocate memory" not in text
        ):
            raise
        h, w = plan.hw
        raise OutOfMemory(
            f"out of memory painting {w}×{h} px on {device}: try a smaller --size, "
            f"tiles (--tile-size 512) or --optimizer adam, which needs less memory"
        ) from None
