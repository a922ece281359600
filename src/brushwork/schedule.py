"""Coarse to fine (Gatys et al. 2017 §6): when a scale has done its work and how the next begins.

A scale ends at its step cap, or sooner once its loss has converged (``Convergence``). The next,
larger scale starts from the last picture upsampled; ``upsample`` also puts back the band of the
photo's detail that the smaller scale could not hold, since the upsampled picture has none there
and the content cost at the new size would otherwise spend its first tens of steps rebuilding it
(a departure from Gatys et al., who upsample alone; measured in benchmarks/results/schedule-study-cpu.md).
"""

from __future__ import annotations

import math

from torch import Tensor

from . import images


class Convergence:
    """When a scale has converged: the best total loss fell by less than ``tolerance`` (a
    fraction of it) over the last ``WINDOW`` steps. L-BFGS without a line search is not monotone,
    so the best loss so far is what is compared; ``tolerance`` 0 never stops early."""

    WINDOW = 10

    def __init__(self, tolerance: float):
        self.tolerance = tolerance
        self._best: list[float] = []

    def update(self, best: float) -> bool:
        """Record the best loss after one more step; True when the scale has converged."""
        self._best.append(best)
        if self.tolerance <= 0 or len(self._best) <= self.WINDOW:
            return False
        before = self._best[-1 - self.WINDOW]
        return math.isfinite(before) and before - best <= self.tolerance * abs(before)


def upsample(x: Tensor, content: Tensor, detail: float) -> Tensor:
    """The last scale's picture ``x`` ``(1, 3, h, w)`` brought to the size of ``content``
    ``(1, 3, H, W)`` (the photo at the new scale), plus ``detail`` × the photo's band between the
    two sizes: ``x↑ + λ·(c − (c↓)↑)``, clamped to [0, 1]. ``detail`` 0 is plain upsampling."""
    hw, small = tuple(content.shape[-2:]), tuple(x.shape[-2:])
    up = images.resize(x, hw)
    if detail == 0 or small == hw:
        return up
    band = content - images.resize(images.resize(content, small), hw)
    return (up + detail * band).clamp(0, 1)
