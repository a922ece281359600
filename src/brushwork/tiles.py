"""Painting a picture too large for memory in overlapping tiles.

Every step still optimizes the whole picture's cost; only the network runs tile by tile. The
picture is cut into cores that partition it, each run through VGG19 with a halo of context
around it (the overlap). A first pass, without gradients, sums the cores' Gram matrices into the
whole picture's Grams, since ``G = A·Aᵀ`` is a sum over positions. A second pass back-propagates
each tile against those whole-picture Grams (the style targets are computed once for the whole
picture), so memory holds one tile's activations at a time. Activations near a core's border
differ a little from the whole picture's (a finite halo); the grid is shifted by half a core on
every other step, so those borders never stay in one place and leave no seam.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
from torch import Tensor

from .costs import content_cost, gram_matrix, style_cost, total_cost, tv_cost, unroll
from .layers import downsampling
from .objective import gram_region_cost, masked

# Bytes per pixel of one float32 step through VGG19 up to relu5_1 (forward activations kept for
# backward, and their gradients), measured: 1.1 GB at 512×384, 2.6 GB at 1024×768, less ~0.6 GB base.
BYTES_PER_PIXEL = 2600
ALIGN = 16  # 2⁴: tile corners on the deepest pooled grid


@dataclass(frozen=True)
class Tile:
    """A core ``[top, bottom) × [left, right)`` of the picture and the window (core plus halo,
    clipped to the picture) the network sees for it."""

    top: int
    bottom: int
    left: int
    right: int
    halo: int
    hw: tuple[int, int]

    @property
    def window(self) -> tuple[slice, slice]:
        return (
            slice(max(0, self.top - self.halo), min(self.hw[0], self.bottom + self.halo)),
            slice(max(0, self.left - self.halo), min(self.hw[1], self.right + self.halo)),
        )

    def core_at(self, d: int) -> tuple[slice, slice]:
        """The core inside the window's activations at a layer pooled ``d`` times."""
        rows, cols = self.window
        return (
            slice((self.top - rows.start) >> d, (self.bottom - rows.start) >> d),
            slice((self.left - cols.start) >> d, (self.right - cols.start) >> d),
        )

    def core_of_picture_at(self, d: int) -> tuple[slice, slice]:
        """The core in the whole picture's coordinates at a layer pooled ``d`` times."""
        return slice(self.top >> d, self.bottom >> d), slice(self.left >> d, self.right >> d)


def available_memory(device: torch.device) -> int:
    """Bytes a step may use: most of the free memory of the device."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.8)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * 0.7)
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.5)


def tile_side(hw: tuple[int, int], requested: int | None, device: torch.device) -> int | None:
    """The tile side to paint ``hw`` with, or None when the whole picture fits (or tiles are off)."""
    h, w = hw
    if requested == 0:
        return None
    if requested is None:
        budget = available_memory(device)
        if h * w * BYTES_PER_PIXEL <= budget:
            return None
        requested = int(math.sqrt(budget / BYTES_PER_PIXEL))
    side = max(ALIGN * 8, requested // ALIGN * ALIGN)
    return None if max(h, w) <= side else side


def _cuts(n: int, core: int, shift: int) -> list[int]:
    """Borders of cores of about ``core`` px along a side of ``n`` px, moved by ``shift``."""
    cuts = [0]
    pos = shift if shift else core
    while pos < n - ALIGN:
        cuts.append(pos)
        pos += core
    return cuts + [n]


def grid(hw: tuple[int, int], side: int, shifted: bool) -> list[Tile]:
    """Tiles whose cores partition ``hw``; each window is at most about ``side`` px. ``shifted``
    moves every inner border by half a core."""
    halo = max(2 * ALIGN, side // 8 // ALIGN * ALIGN)
    core = max(ALIGN, (side - 2 * halo) // ALIGN * ALIGN)
    shift = core // 2 // ALIGN * ALIGN if shifted else 0
    rows, cols = _cuts(hw[0], core, shift), _cuts(hw[1], core, shift)
    return [
        Tile(t, b, l, r, halo, hw)
        for t, b in zip(rows, rows[1:], strict=False)
        for l, r in zip(cols, cols[1:], strict=False)
    ]


class TiledObjective:
    """The whole picture's cost and its gradient, computed tile by tile (see the module docstring).
    ``backward(x)`` leaves the gradient in ``x.grad`` and returns ``(J, terms)`` like
    ``Objective.backward``. Gram statistics only: w2 and gradient normalization need the whole
    picture at once. The costs are those of ``costs``, taken of the summed Grams; their gradient
    with respect to each Gram (by autograd) then weighs each tile's own Gram in the second pass."""

    def __init__(self, net, config, content: Tensor, targets, side: int):
        self.net, self.cfg, self.content, self.side = net, config, content, side
        self.hw: tuple[int, int] = (content.shape[-2], content.shape[-1])
        self.lambdas = config.lambdas
        self.regions = targets.at(config.style_layers)
        self._a_C: dict[Tile, Tensor] = {}
        self._calls = 0

    def _positions(self, layer: str) -> int:
        d = downsampling(layer)
        return (self.hw[0] >> d) * (self.hw[1] >> d)

    def _content_core(self, tile: Tile) -> Tensor:
        if tile not in self._a_C:
            rows, cols = tile.window
            d = downsampling(self.cfg.content_layer)
            with torch.no_grad():
                a = self.net(self.content[..., rows, cols], [self.cfg.content_layer])[self.cfg.content_layer]
            self._a_C[tile] = a[(..., *tile.core_at(d))].clone()
        return self._a_C[tile]

    def _grams(self, acts: dict[str, Tensor], tile: Tile) -> dict[tuple[int, str], Tensor]:
        """Each region's Gram of the tile's core at each style layer."""
        out = {}
        for l in self.cfg.style_layers:
            core = acts[l][(..., *tile.core_at(downsampling(l)))]
            for i, r in enumerate(self.regions):
                m = r.masks[l]
                m = None if m is None else m[(..., *tile.core_of_picture_at(downsampling(l)))]
                out[i, l] = gram_matrix(unroll(masked(core, m)))[0]
        return out

    def _style(self, G: dict[tuple[int, str], Tensor]) -> tuple[Tensor, dict[tuple[int, str], Tensor]]:
        """(J_style of the whole picture's Grams ``G``, the gradient of β·J_style with respect to each)."""
        J_layers = {
            l: sum(
                (
                    gram_region_cost(r, l, G[i, l].requires_grad_(True), G[i, l].shape[-1], self._positions(l))
                    for i, r in enumerate(self.regions)
                ),
                torch.zeros((), device=self.content.device),
            )
            for l in self.cfg.style_layers
        }
        J_style = style_cost(J_layers, self.lambdas)
        if not G:  # no region covers the picture: no style to match
            return J_style, {}
        D = torch.autograd.grad(self.cfg.beta * J_style, list(G.values()))
        return J_style.detach(), dict(zip(G, D, strict=False))

    def _tile_backward(self, x: Tensor, grad: Tensor, t: Tile, D: dict[tuple[int, str], Tensor]) -> Tensor:
        """Adds the tile's share of the gradient to ``grad`` (``x.grad``); returns its share of J_content."""
        xt = x[(..., *t.window)].detach().requires_grad_(True)
        acts = self.net(xt, (self.cfg.content_layer, *self.cfg.style_layers))
        a_G = acts[self.cfg.content_layer][(..., *t.core_at(downsampling(self.cfg.content_layer)))]
        # The core's content cost, a mean over its positions, as its share of the whole picture's mean.
        J_c = content_cost(self._content_core(t), a_G) * (
            a_G.shape[-2] * a_G.shape[-1] / self._positions(self.cfg.content_layer)
        )
        g = self._grams(acts, t)
        # Σ ∂J/∂G · G_tile back-propagates the style cost's gradient through this tile's Grams.
        surrogate = self.cfg.content_weight * J_c + sum((D[k] * g[k]).sum() for k in D)
        surrogate.backward()
        assert xt.grad is not None  # xt is a leaf that requires grad, and backward() just ran
        grad[(..., *t.window)] += xt.grad
        return J_c.detach()

    def backward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        cfg = self.cfg
        tiles = grid(self.hw, self.side, shifted=bool(self._calls % 2))
        self._calls += 1
        G: dict[tuple[int, str], Tensor] = {}
        with torch.no_grad():  # pass 1: the whole picture's Grams, summed over cores
            for t in tiles:
                for k, g in self._grams(self.net(x[(..., *t.window)], cfg.style_layers), t).items():
                    G[k] = G[k] + g if k in G else g
        J_style, D = self._style(G)
        if x.grad is None:
            x.grad = torch.zeros_like(x)
        grad = x.grad
        # pass 2: each tile's share of the gradient
        J_content = sum((self._tile_backward(x, grad, t, D) for t in tiles), torch.zeros((), device=x.device))
        x_tv = x.detach().requires_grad_(True)
        J_tv = cfg.tv_weight * tv_cost(x_tv)
        J_tv.backward()
        assert x_tv.grad is not None  # as xt's in _tile_backward
        grad += x_tv.grad
        J = total_cost(J_content, J_style, cfg.content_weight, cfg.beta) + J_tv.detach()
        return J, {"content": cfg.content_weight * J_content, "style": cfg.beta * J_style, "tv": J_tv.detach()}
