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

from .costs import gram_matrix, style_cost, total_cost, tv_cost, unroll
from .layers import downsampling

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
        return (slice(max(0, self.top - self.halo), min(self.hw[0], self.bottom + self.halo)),
                slice(max(0, self.left - self.halo), min(self.hw[1], self.right + self.halo)))

    def core_at(self, d: int) -> tuple[slice, slice]:
        """The core inside the window's activations at a layer pooled ``d`` times."""
        rows, cols = self.window
        return (slice((self.top - rows.start) >> d, (self.bottom - rows.start) >> d),
                slice((self.left - cols.start) >> d, (self.right - cols.start) >> d))

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
    return [Tile(t, b, l, r, halo, hw) for t, b in zip(rows, rows[1:]) for l, r in zip(cols, cols[1:])]


class TiledObjective:
    """The whole picture's cost and its gradient, computed tile by tile (see the module docstring).
    ``backward(x)`` leaves the gradient in ``x.grad`` and returns ``(J, terms)`` like
    ``Objective.backward``. Gram statistics only: w2 and gradient normalization need the whole
    picture at once."""

    def __init__(self, net, config, content: Tensor, targets, side: int):
        self.net, self.cfg, self.content, self.side = net, config, content, side
        self.hw = tuple(content.shape[-2:])
        self.lambdas = config.lambdas
        self.regions = [r for r in targets.window(config.style_layers, None) if r.mask is None or r.mask.sum() > 0]
        self._a_C: dict[Tile, Tensor] = {}
        self._calls = 0

    def _content_core(self, tile: Tile) -> Tensor:
        if tile not in self._a_C:
            rows, cols = tile.window
            d = downsampling(self.cfg.content_layer)
            with torch.no_grad():
                a = self.net(self.content[..., rows, cols], [self.cfg.content_layer])[self.cfg.content_layer]
            self._a_C[tile] = a[(..., *tile.core_at(d))].clone()
        return self._a_C[tile]

    def _masked(self, a: Tensor, r, layer: str, tile: Tile) -> Tensor:
        m = r.masks[layer]
        return a if m is None else a * m[(..., *tile.core_of_picture_at(downsampling(layer)))]

    def backward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        cfg, layers = self.cfg, cfg_layers(self.cfg)
        tiles = grid(self.hw, self.side, shifted=bool(self._calls % 2))
        self._calls += 1
        G = {}
        with torch.no_grad():  # pass 1: the whole picture's Grams, summed over cores
            for t in tiles:
                acts = self.net(x[(..., *t.window)], cfg.style_layers)
                for l in cfg.style_layers:
                    core = acts[l][(..., *t.core_at(downsampling(l)))]
                    for i, r in enumerate(self.regions):
                        g = gram_matrix(unroll(self._masked(core, r, l, t)))[0]
                        G[i, l] = G[i, l] + g if (i, l) in G else g
        J_layers, D = {}, {}
        for l in cfg.style_layers:
            n_C = G[0, l].shape[0]
            N = (self.hw[0] >> downsampling(l)) * (self.hw[1] >> downsampling(l))
            J_layers[l] = torch.zeros((), device=x.device)
            for i, r in enumerate(self.regions):
                n = N if r.masks[l] is None else float(r.masks[l].sum())
                diff = r.gram[l] * n - G[i, l]
                J_layers[l] = J_layers[l] + (diff**2).sum() / (4 * n_C**2 * n**2) * (n / N)
                D[i, l] = -2 * diff / (4 * n_C**2 * n**2) * (n / N)  # ∂J/∂G^G, symmetric
        J_style = style_cost(J_layers, self.lambdas)
        grad = torch.zeros_like(x)
        J_content = torch.zeros((), device=x.device)
        d_c = downsampling(cfg.content_layer)
        N_c = (self.hw[0] >> d_c) * (self.hw[1] >> d_c)
        for t in tiles:  # pass 2: each tile's share of the gradient
            xt = x[(..., *t.window)].detach().requires_grad_(True)
            acts = self.net(xt, layers)
            a_G = acts[cfg.content_layer][(..., *t.core_at(d_c))]
            Jc = ((self._content_core(t).float() - a_G.float()) ** 2).sum() / (4 * N_c * a_G.shape[-3])
            surrogate = cfg.content_weight * Jc
            for l in cfg.style_layers:
                core = acts[l][(..., *t.core_at(downsampling(l)))]
                for i, r in enumerate(self.regions):
                    g = gram_matrix(unroll(self._masked(core, r, l, t)))[0]
                    surrogate = surrogate + cfg.style_weight * self.lambdas[l] * (D[i, l] * g).sum()
            surrogate.backward()
            grad[(..., *t.window)] += xt.grad
            J_content = J_content + Jc.detach()
        x_tv = x.detach().requires_grad_(True)
        J_tv = tv_cost(x_tv)
        (cfg.tv_weight * J_tv).backward()
        x.grad = grad + x_tv.grad if x.grad is None else x.grad + grad + x_tv.grad
        J = total_cost(J_content, J_style, cfg.content_weight, cfg.style_weight) + cfg.tv_weight * J_tv.detach()
        return J, {"content": cfg.content_weight * J_content, "style": cfg.style_weight * J_style,
                   "tv": cfg.tv_weight * J_tv.detach()}


def cfg_layers(cfg) -> tuple[str, ...]:
    return (cfg.content_layer, *cfg.style_layers)
