"""L-BFGS on the picture with its finest detail scaled down: a change of variables ``x = x₀ + P·z``.

``P`` is a filter, the same on every channel: it keeps the periods above ``COARSE_PERIOD`` pixels
as they are, multiplies the periods below ``FINE_PERIOD`` pixels by ``fine`` (< 1) and goes
log-linearly between them. The optimizer works on ``z``: its gradient is ``P·∇ₓJ`` and its step
``d`` moves the picture by ``P·d``, so the finest detail moves ``fine²`` as far as the rest would.

Why (a departure from Gatys et al., who optimize the pixels as they are): measured at the finest
scale of a coarse-to-fine run (Tübingen × Shipwreck, 512 px), the periods under 8 px carry 60 % of
the gradient's energy but little or negative curvature, while periods of 8–64 px curve 3–10× more
(benchmarks/results/schedule-study-cpu.md). L-BFGS, whose step is scaled by the curvature of its
recent steps, overshoots in the fine detail and repaints it step after step. With ``fine = 0.5``
the last scale comes within 5 % of the old 600-step picture in 70–80 steps instead of more than 100
(0.35: in 60 on The Shipwreck, but The Starry Night's style then lagged 5–7 %).
The minima are the same: only the path to them changes. Boosting the fine detail (``fine > 1``)
instead made every measure worse, as Fourier parameterizations that boost the coarse periods
(Olah et al., Distill 2017, for pictures started from noise) would suggest.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

COARSE_PERIOD = 32.0  # px: periods at least this long are left alone
FINE_PERIOD = 8.0  # px: periods at most this long are multiplied by ``fine``


@functools.lru_cache(maxsize=8)
def frequency_gain(hw: tuple[int, int], fine: float, device: torch.device | str = "cpu") -> Tensor:
    """The filter's gain at each frequency of ``torch.fft.rfft2`` on an ``(h, w)`` picture, ``(h, w//2+1)``:
    ``fine^t`` with ``t = clamp(log(COARSE/period) / log(COARSE/FINE), 0, 1)``, period = 1/|f| in px."""
    h, w = hw
    f = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.rfftfreq(w)[None, :] ** 2)  # cycles per px
    t = (torch.log(f.clamp(min=1e-12) * COARSE_PERIOD) / math.log(COARSE_PERIOD / FINE_PERIOD)).clamp(0, 1)
    return (fine**t).to(device)


def apply(v: Tensor, shape: torch.Size | tuple[int, ...], fine: float) -> Tensor:
    """``P·v`` for a flat ``v`` holding a picture of ``shape`` ``(1, C, h, w)``; flat, float32. ``P`` is
    symmetric (a real, even gain), so the same call maps a gradient to ``z`` and a step back to ``x``."""
    if fine == 1.0:
        return v
    hw = (int(shape[-2]), int(shape[-1]))
    V = torch.fft.rfft2(v.view(shape).float())
    return torch.fft.irfft2(V * frequency_gain(hw, fine, v.device), s=hw).reshape(-1)
