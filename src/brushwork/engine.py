"""The optimization loop: ``stylize_iter`` yields one immutable ``Progress`` per step and
``stylize`` runs it to the end.

Coarse to fine (Gatys et al. 2017 §6): the picture is painted at each size of
``config.schedule()`` in turn, the result of one scale upsampled to start the next. At each
scale the targets (content activations, style statistics) are computed once, without gradients;
the image's pixels are the only thing optimized.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import torch
from torch import Tensor

from . import cache, color, images, tiles
from .config import Config, ConfigError
from .devices import resolve, resolve_precision, tune
from .lbfgs import LBFGS
from .objective import Objective, StyleTargets
from .vgg import LAYERS, VGG19Features, downsampling
from .weights import load_weights


@dataclass(frozen=True)
class Progress:
    """One optimization step. ``step`` counts over all scales (``iterations`` in all); ``scale``
    is the index of the running scale in ``sizes``. ``losses`` holds the weighted terms (content,
    style, tv) and their total; ``image`` is a CPU ``(1, 3, H, W)`` tensor on the steps that asked
    for it, else None."""

    step: int
    iterations: int
    losses: Mapping[str, float]
    elapsed: float
    image: Tensor | None = None
    scale: int = 0
    sizes: tuple[int, ...] = ()

    @property
    def done(self) -> bool:
        return self.step == self.iterations

    @property
    def size(self) -> int:
        return self.sizes[self.scale] if self.sizes else 0


@dataclass(frozen=True)
class Result:
    """The painted image (CPU, ``(1, 3, H, W)``, [0, 1]), its final losses, and how it was made."""

    image: Tensor
    losses: Mapping[str, float]
    steps: int
    elapsed: float
    config: Config

    def to_pil(self):
        return images.to_pil(self.image)

    def save(self, path, params: dict | None = None) -> Path:
        """Write the image (atomically); PNGs carry ``params`` or, by default, the config."""
        if params is None:
            params = {**run_params(self.config), "step": self.steps, "losses": dict(self.losses)}
        return images.save(self.image, path, params)


def run_params(config: Config) -> dict:
    """What a PNG records of how it was made: the brushwork version and the full config."""
    from . import __version__

    return {"brushwork": __version__, "config": dataclasses.asdict(config)}


def min_size(config: Config) -> int:
    """Smallest side that leaves the deepest layer at least one pixel."""
    deepest = max((config.content_layer, *config.style_layers), key=LAYERS.index)
    return 2 ** downsampling(deepest)


def resolve_masks(specs: Sequence[str], styles: Sequence, extra: Mapping | None = None) -> dict[int, images.ImageLike]:
    """``STYLE=MASK`` strings (STYLE a 1-based number or a style's path as given) -> {index: mask}."""
    out: dict[int, images.ImageLike] = dict(extra or {})
    names = [str(s) for s in styles]
    for spec in specs:
        key, mask = spec.split("=", 1)
        if key.isdigit() and 1 <= int(key) <= len(styles):
            index = int(key) - 1
        elif key in names:
            index = names.index(key)
        else:
            raise ConfigError(f"--style-mask {spec!r}: {key!r} is neither a style number (1–{len(styles)}) "
                              f"nor one of the style paths")
        out[index] = mask
    return out


def load_mask(mask: images.ImageLike, hw: tuple[int, int]) -> Tensor:
    """A mask image as ``(1, 1, H, W)`` in [0, 1] (white = 1), resized to the content's ``hw``."""
    return images.resize(images.load(mask), hw)[:, :1]


class Painting:
    """The iterator ``stylize_iter`` returns. Besides the events it offers ``current_image()``,
    so a caller interrupted between steps (Ctrl-C) can still keep the picture."""

    def __init__(self, content, styles: Sequence, config: Config, image_every: int | None, masks: Mapping | None):
        self.config = config
        self._image_every = config.save_every if image_every is None else image_every
        self._gen = self._run(content, list(styles), masks)
        self._x: Tensor | None = None
        self._content: Tensor | None = None

    def __iter__(self) -> "Painting":
        return self

    def __next__(self) -> Progress:
        return next(self._gen)

    def current_image(self) -> Tensor | None:
        """The image as it stands now (CPU, clamped, colours applied), or None before step 1."""
        if self._x is None:
            return None
        with torch.no_grad():
            out = self._x.detach().clamp(0, 1).float().cpu()  # the content stays on the CPU
            if self.config.color in ("keep", "luminance"):
                out = color.keep_colors(images.resize(self._content, tuple(out.shape[-2:])), out)
            return out.clone()

    def _run(self, content, styles: list, masks: Mapping | None) -> Iterator[Progress]:
        cfg = self.config
        if not styles:
            raise ConfigError("at least one style image is needed")
        blend = cfg.blend(len(styles))
        mask_files = resolve_masks(cfg.style_masks, styles, masks)
        device = resolve(cfg.device)
        torch.manual_seed(cfg.seed)
        start = time.perf_counter()

        content_full = images.load(content)
        sizes = cfg.schedule()
        h, w = images.fit(sizes[0], *content_full.shape[-2:])
        if min(h, w) < min_size(cfg):
            raise ConfigError(f"a {w}×{h} px picture is too small: the deepest layer needs at least "
                              f"{min_size(cfg)} px on each side (raise --size or --start-size)")
        styles_full = [images.load(s) for s in styles]
        out_hw = images.fit(sizes[-1], *content_full.shape[-2:])
        masks_full = {i: load_mask(m, out_hw) for i, m in mask_files.items()}
        self._content = content_full
        work_content, work_styles = _apply_color(cfg.color, content_full, styles_full)

        net, net_key = _network(cfg, device)
        plans = [self._plan(size, content_full, device) for size in sizes]
        total, step = sum(p.steps for p in plans), 0
        x: Tensor | None = None
        for k, plan in enumerate(plans):
            c_img = images.resize(work_content, plan.hw).to(device)
            s_imgs = [self._style_at(s, plan.size) for s in work_styles]
            m_imgs = {i: images.resize(m, plan.hw) for i, m in masks_full.items()}
            # The same style pictures and settings give the same targets: reuse them across runs.
            key = (net_key, cfg.style_layers, cfg.style_loss, tuple(blend), cache.images_key(s_imgs),
                   cache.masks_key(m_imgs))
            targets = cache.STYLE_TARGETS.get(key, lambda: StyleTargets(
                net, cfg, [s.to(device) for s in s_imgs], blend, {i: m.to(device) for i, m in m_imgs.items()}))
            objective = Objective(net, cfg, c_img, targets) if plan.side is None \
                else tiles.TiledObjective(net, cfg, c_img, targets, plan.side)
            x = self._init(c_img, device) if x is None else images.resize(x.detach(), plan.hw)
            self._x = x = x.contiguous().requires_grad_(True)
            opt = self._optimizer(x, plan.steps)
            for _ in range(plan.steps):
                losses = self._step(opt, objective, x)
                step += 1
                want = step == total or (self._image_every > 0 and step % self._image_every == 0)
                yield Progress(step=step, iterations=total, losses=losses, elapsed=time.perf_counter() - start,
                               image=self.current_image() if want else None, scale=k, sizes=tuple(sizes))

    def _plan(self, size: int, content: Tensor, device: torch.device) -> "_Plan":
        cfg = self.config
        hw = images.fit(size, *content.shape[-2:])
        side = tiles.tile_side(hw, cfg.tile_size, device)
        if side is not None and (cfg.style_loss != "gram" or cfg.normalize_gradients):
            raise ConfigError(f"a {hw[1]}×{hw[0]} px picture must be painted in tiles, which support only "
                              f"--style-loss gram without --normalize-gradients; lower --size")
        return _Plan(size, hw, cfg.steps_at(size), side)

    def _style_at(self, style: Tensor, size: int) -> Tensor:
        hs, ws = images.fit(max(1, round(size * self.config.style_scale)), *style.shape[-2:])
        if min(hs, ws) < min_size(self.config):
            raise ConfigError(f"style image at {ws}×{hs} px is too small for the style layers; "
                              f"raise --style-scale or --start-size")
        return images.resize(style, (hs, ws))

    def _step(self, opt: torch.optim.Optimizer, objective, x: Tensor) -> dict[str, float]:
        terms: dict[str, Tensor] = {}

        def closure() -> Tensor:
            opt.zero_grad(set_to_none=True)
            J, parts = objective.backward(x)
            terms.update(parts, total=J)
            return J

        opt.step(closure)
        if self.config.optimizer == "adam":
            with torch.no_grad():
                x.clamp_(0, 1)  # Adam steps stay in the valid pixel range; L-BFGS keeps its curvature pairs.
        # One device-to-host copy for all the terms, not one per term.
        return dict(zip(terms, torch.stack([v.float() for v in terms.values()]).tolist()))

    def _init(self, content_img: Tensor, device: torch.device) -> Tensor:
        cfg = self.config
        if cfg.init == "content":
            return content_img.clone()
        if cfg.init == "noise":
            gen = torch.Generator().manual_seed(cfg.seed)
            # White noise around mid-grey (Gatys et al. start from white noise).
            noise = torch.rand(content_img.shape, generator=gen)
            return (0.5 + 0.5 * (noise - 0.5)).to(device)
        return images.resize(images.load(cfg.init), tuple(content_img.shape[-2:])).to(device)

    def _optimizer(self, x: Tensor, steps: int):
        cfg = self.config
        if cfg.optimizer == "adam":
            return torch.optim.Adam([x], lr=cfg.lr)
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
    last = max((cfg.content_layer, *cfg.style_layers), key=LAYERS.index)
    stamp = None
    if cfg.weights:
        st = Path(cfg.weights).stat() if Path(cfg.weights).is_file() else None
        stamp = st and (st.st_size, st.st_mtime_ns)
    key = (cfg.weights, stamp, cfg.weights_format, last, cfg.pooling, str(device), dtype, channels_last)

    def build() -> VGG19Features:
        net = VGG19Features(load_weights(cfg.weights, cfg.weights_format), last=last, pooling=cfg.pooling)
        return net.to(device).set_precision(dtype, channels_last=channels_last)

    return cache.NETWORKS.get(key, build), key


def _apply_color(mode: str, content: Tensor, styles: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """The pictures the optimization sees for a colour mode (full resolution, CPU)."""
    if mode == "luminance":
        return color.luminance(content), [color.match_luminance(s, content) for s in styles]
    if mode == "match":
        return content, [color.match_colors(s, content) for s in styles]
    return content, styles


def stylize_iter(content: images.ImageLike, styles: Sequence[images.ImageLike], config: Config | None = None,
                 *, image_every: int | None = None, masks: Mapping[int, images.ImageLike] | None = None) -> Painting:
    """Paint ``content`` in the style of ``styles`` step by step.

    Yields one ``Progress`` per step; the last one (``done``) carries the final image. Other
    events carry the image every ``image_every`` steps (default: ``config.save_every``).
    Inputs may be paths, PIL images or ``(3, H, W)``/``(1, 3, H, W)`` tensors in [0, 1]. ``masks``
    maps a style's index to a mask image (white = paint this style there), besides
    ``config.style_masks``.
    """
    return Painting(content, styles, config or Config(), image_every, masks)


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
