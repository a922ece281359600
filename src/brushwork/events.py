"""What a run hands back: one immutable ``Progress`` per step, and the final ``Result``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from . import images
from ._version import __version__
from .config import Config


@dataclass(frozen=True)
class Progress:
    """One optimization step. ``step`` counts over all scales (``iterations`` in all); ``scale``
    is the index of the running scale in ``sizes``. ``losses`` holds the weighted terms (content,
    style, tv) and their total; ``image`` is a CPU ``(1, 3, H, W)`` tensor on the steps that asked
    for it, else None. ``recovered``: the step's loss or gradient was not finite, so the run went
    back to its best picture and restarted the optimizer (``losses`` are then the best ones).
    ``steps``: each scale's steps (a cap, until a scale converges early and ends: then what it
    took, and ``iterations`` = their sum shrinks with it)."""

    step: int
    iterations: int
    losses: Mapping[str, float]
    elapsed: float
    image: Tensor | None = None
    scale: int = 0
    sizes: tuple[int, ...] = ()
    recovered: bool = False
    steps: tuple[int, ...] = ()  # steps of each scale: its cap, or what it took when it converged early

    @property
    def done(self) -> bool:
        return self.step == self.iterations

    @property
    def size(self) -> int:
        return self.sizes[self.scale] if self.sizes else 0

    @property
    def scale_step(self) -> int:
        """Steps done in the running scale."""
        return self.step - sum(self.steps[: self.scale])


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
            params = png_params(self.config, progress=Progress(self.steps, self.steps, self.losses, self.elapsed))
        return images.save(self.image, path, params)


def png_params(config: Config, content=None, styles=(), progress: Progress | None = None, **extra) -> dict:
    """What a PNG records of how it was made (the one place for the CLI, batch, the studio and
    ``Result.save``): the version and config, the content's and styles' names when given, the step
    and losses (and seconds) of ``progress`` (step 0 without one), and ``extra``."""
    params = run_params(config)
    if content is not None:
        params.update(content=str(content), styles=[str(s) for s in styles])
    params.update(step=progress.step if progress else 0, losses=finite(dict(progress.losses)) if progress else {})
    if progress is not None:
        params["elapsed"] = round(progress.elapsed, 3)
    return {**params, **extra}


def finite(value):
    """``value`` with every float that is not finite replaced by None: JSON has no NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def run_params(config: Config) -> dict:
    """What a PNG records of how it was made: the brushwork version, the full config and the values
    in effect of options left to their loss's default (the style weight, the tolerance)."""
    return {"brushwork": __version__, "config": dataclasses.asdict(config), "effective": config.in_effect()}
