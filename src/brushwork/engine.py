"""The optimization loop: ``stylize_iter`` yields one immutable ``Progress`` per step and
``stylize`` runs it to the end. Targets (content activations, style Grams) are computed once,
without gradients; the image's pixels are the only thing optimized."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import torch
from torch import Tensor

from . import costs, images
from .color import keep_colors
from .config import Config, ConfigError
from .devices import resolve
from .vgg import VGG19Features, downsampling, LAYERS
from .weights import load_weights


@dataclass(frozen=True)
class Progress:
    """One optimization step. ``losses`` holds the weighted terms (content, style, tv) and total;
    ``image`` is a CPU ``(1, 3, H, W)`` tensor on the steps that asked for it, else None."""

    step: int
    iterations: int
    losses: Mapping[str, float]
    elapsed: float
    image: Tensor | None = None

    @property
    def done(self) -> bool:
        return self.step == self.iterations


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


@dataclass(frozen=True)
class _Targets:
    a_C: Tensor
    G_S: dict[str, Tensor]


def min_size(config: Config) -> int:
    """Smallest side that leaves the deepest layer at least one pixel."""
    deepest = max((config.content_layer, *config.style_layers), key=LAYERS.index)
    return 2 ** downsampling(deepest)


class Painting:
    """The iterator ``stylize_iter`` returns. Besides the events it offers ``current_image()``,
    so a caller interrupted between steps (Ctrl-C) can still keep the picture."""

    def __init__(self, content, styles: Sequence, config: Config, image_every: int | None):
        self.config = config
        self._image_every = config.save_every if image_every is None else image_every
        self._gen = self._run(content, list(styles))
        self._x: Tensor | None = None
        self._content: Tensor | None = None

    def __iter__(self) -> "Painting":
        return self

    def __next__(self) -> Progress:
        return next(self._gen)

    def current_image(self) -> Tensor | None:
        """The image as it stands now (CPU, clamped, colours kept if asked), or None before step 1."""
        if self._x is None:
            return None
        with torch.no_grad():
            out = self._x.detach().clamp(0, 1)
            if self.config.original_colors:
                out = keep_colors(self._content, out)
            return out.float().cpu().clone()

    def _run(self, content, styles: list) -> Iterator[Progress]:
        cfg = self.config
        if not styles:
            raise ConfigError("at least one style image is needed")
        blend = cfg.blend(len(styles))
        device = resolve(cfg.device)
        torch.manual_seed(cfg.seed)
        start = time.perf_counter()

        content_img = images.load(content)
        h, w = images.fit(cfg.size, *content_img.shape[-2:])
        if min(h, w) < min_size(cfg):
            raise ConfigError(f"output of {w}×{h} px is too small: the deepest layer needs at least "
                              f"{min_size(cfg)} px on each side")
        content_img = images.resize(content_img, (h, w)).to(device)
        style_imgs = []
        for s in styles:
            img = images.load(s)
            hs, ws = images.fit(max(1, round(cfg.size * cfg.style_scale)), *img.shape[-2:])
            if min(hs, ws) < min_size(cfg):
                raise ConfigError(f"style image at {ws}×{hs} px is too small for the style layers; "
                                  f"raise --style-scale or --size")
            style_imgs.append(images.resize(img, (hs, ws)).to(device))

        weights = load_weights(cfg.weights, cfg.weights_format)
        last = max((cfg.content_layer, *cfg.style_layers), key=LAYERS.index)
        net = VGG19Features(weights, last=last, pooling=cfg.pooling).to(device)
        targets = self._targets(net, content_img, style_imgs, blend)
        x = self._init(content_img, device).requires_grad_(True)
        self._x, self._content = x, content_img

        opt = self._optimizer(x)
        lambdas = cfg.lambdas
        layers = (cfg.content_layer, *cfg.style_layers)
        last_losses: dict[str, Tensor] = {}

        def closure() -> Tensor:
            opt.zero_grad(set_to_none=True)
            acts = net(x, layers)
            J_content = costs.content_cost(targets.a_C, acts[cfg.content_layer])
            J_style = costs.style_cost({l: costs.layer_style_cost(targets.G_S[l], acts[l]) for l in cfg.style_layers},
                                       lambdas)
            J_tv = costs.tv_cost(x)
            J = costs.total_cost(J_content, J_style, cfg.content_weight, cfg.style_weight) + cfg.tv_weight * J_tv
            J.backward()
            last_losses.update(content=cfg.content_weight * J_content.detach(),
                               style=cfg.style_weight * J_style.detach(), tv=cfg.tv_weight * J_tv.detach(),
                               total=J.detach())
            return J

        for step in range(1, cfg.iterations + 1):
            opt.step(closure)
            if cfg.optimizer == "adam":
                with torch.no_grad():
                    x.clamp_(0, 1)  # Adam steps stay in the valid pixel range; L-BFGS keeps its curvature pairs.
            losses = {k: float(v) for k, v in last_losses.items()}
            want = step == cfg.iterations or (self._image_every > 0 and step % self._image_every == 0)
            yield Progress(step=step, iterations=cfg.iterations, losses=losses,
                           elapsed=time.perf_counter() - start, image=self.current_image() if want else None)

    def _targets(self, net: VGG19Features, content_img: Tensor, style_imgs: list[Tensor], blend) -> _Targets:
        cfg = self.config
        with torch.no_grad():
            a_C = net(content_img, [cfg.content_layer])[cfg.content_layer]
            n_H = {l: content_img.shape[-2] // 2 ** downsampling(l) for l in cfg.style_layers}
            n_W = {l: content_img.shape[-1] // 2 ** downsampling(l) for l in cfg.style_layers}
            G_S = {l: 0 for l in cfg.style_layers}
            for img, b in zip(style_imgs, blend):
                acts = net(img, cfg.style_layers)
                for l in cfg.style_layers:
                    G_S[l] = G_S[l] + b * costs.style_target(acts[l], n_H[l], n_W[l])
        return _Targets(a_C=a_C, G_S=G_S)

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

    def _optimizer(self, x: Tensor) -> torch.optim.Optimizer:
        cfg = self.config
        if cfg.optimizer == "adam":
            return torch.optim.Adam([x], lr=cfg.lr)
        # One L-BFGS iteration per step() call; the history persists in the optimizer's state.
        # No early stop: the user asked for a number of iterations (as jcjohnson's tolerance -1).
        return torch.optim.LBFGS([x], lr=cfg.lr, max_iter=1, history_size=100,
                                 tolerance_grad=-1, tolerance_change=-1)


def stylize_iter(content: images.ImageLike, styles: Sequence[images.ImageLike], config: Config | None = None,
                 *, image_every: int | None = None) -> Painting:
    """Paint ``content`` in the style of ``styles`` step by step.

    Yields one ``Progress`` per step; the last one (``done``) carries the final image. Other
    events carry the image every ``image_every`` steps (default: ``config.save_every``).
    Inputs may be paths, PIL images or ``(3, H, W)``/``(1, 3, H, W)`` tensors in [0, 1].
    """
    return Painting(content, styles, config or Config(), image_every)


def stylize(content: images.ImageLike, styles: Sequence[images.ImageLike] | images.ImageLike,
            config: Config | None = None) -> Result:
    """Paint ``content`` in the style of ``styles`` (one image or a list); returns a ``Result``."""
    if not isinstance(styles, (list, tuple)):
        styles = [styles]
    config = config or Config()
    last = None
    for last in stylize_iter(content, styles, config, image_every=0):
        pass
    return Result(image=last.image, losses=last.losses, steps=last.step, elapsed=last.elapsed, config=config)
