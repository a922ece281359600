"""The nn style loss of one scale (``--style-loss nn``): a style picture's targets, their blend over
a region's styles, and the cost of a picture, all from ``style_costs``'s pure functions.

Per region, with λ_l the style layers' weights (``Config.lambdas``) and the terms' weights
``w = config.NN_TERMS``:

    J = w_neighbour · J_neighbour + w_moment · Σ_l λ_l · J_moment^l + w_palette · J_palette

* ``J_neighbour`` (NNST): each output hypercolumn, at most NN_POSITIONS points of a grid of 1/4 of the
  picture's side, new each step, is pulled toward its nearest style hypercolumn by cosine distance
  (``style_costs.nn_cost``); several styles add their costs, weighted by their blend weights (a
  pooled set would make the weights nearly meaningless: the neighbour comes from whichever style is
  closest).
* ``J_moment^l`` (STROTSS's moment term): the layer's mean and covariance against the styles'
  mixture (``style_costs.moment_cost``), over all positions of the region.
* ``J_palette`` (STROTSS's colour term): the pixels' colours against the paintings' (a mixture, each
  painting's pixels weighted by its blend weight), on PALETTE_DIRECTIONS random colour directions
  new each step (``style_costs.palette_cost``). Without it nn keeps much of the photo's colours.

A masked region counts in proportion to its area, as gram's cost does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from . import costs, style_costs
from .config import NN_TERMS

NN_STRIDE = 4  # hypercolumns are taken on a grid of 1/4 of the picture's side (relu3_1's)
NN_STYLE_POSITIONS = 4096  # style hypercolumns kept per style, per scale
NN_POSITIONS = 4096  # output hypercolumns pulled per evaluation: memory and time stay bounded
PALETTE_PIXELS = 65536  # a painting's pixels kept for the palette (a fixed random subset)
PALETTE_DIRECTIONS = 8  # colour directions per evaluation (three dimensions: a few suffice)


def moments(a: Tensor, m: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Mean ``μ`` ``(n_C,)`` and covariance ``Σ`` ``(n_C, n_C)`` of activations ``a`` ``(1, n_C, n_H, n_W)``
    over positions weighted by a mask ``m`` ``(1, 1, n_H, n_W)`` (None: all 1), as ``costs.mean_cov``:
    ``μ = Σ_i m_i a_i / Σ_i m_i``, ``Σ = Σ_i m_i a_i a_iᵀ / Σ_i m_i − μ μᵀ``, the second moment a Gram
    product of ``a·√m`` (``costs.gram_matrix``: bfloat16 activations multiply as they are, with no
    float32 copy; ~5× faster than ``mean_cov`` at 512 px)."""
    acc = torch.float64 if a.dtype == torch.float64 else torch.float32
    if m is None:
        n: float | Tensor = a.shape[-2] * a.shape[-1]
        mu = a.sum(dim=(0, 2, 3), dtype=acc) / n
    else:
        n, root = m.to(acc).sum().clamp(min=1e-8), m.sqrt().to(a.dtype)
        a = a * root  # Σ m a aᵀ = Σ (√m·a)(√m·a)ᵀ
        mu = (a * root).sum(dim=(0, 2, 3), dtype=acc) / n
    return mu, costs.gram_matrix(costs.unroll(a))[0] / n - torch.outer(mu, mu)


@dataclass
class NNTarget:
    """One region's nn targets (see the module docstring)."""

    styles: list[tuple[list[Tensor], float]]  # per style: its centred points per layer (Q, n_C), blend weight
    centers: dict[str, Tensor]  # the styles' blended mean point per layer (n_C,)
    moments: dict[str, tuple[Tensor, Tensor]]  # the mixture's (μ, Σ) per layer
    palette: tuple[Tensor, Tensor | None]  # the paintings' pixels (3, M) and their weights (None: equal)


def statistics(acts: dict[str, Tensor], image: Tensor, gen: torch.Generator) -> dict:
    """A style picture's statistics: its features at sampled points of the grid, each layer's mean
    and covariance, and a subset of its pixels. ``image`` ``(1, 3, H, W)``; ``gen`` a fixed seed's,
    so that the targets depend on the pictures alone (``cache`` reuses them)."""
    h, w = image.shape[-2:]
    some = next(iter(acts.values()))
    grid = some.new_ones(h // NN_STRIDE, w // NN_STRIDE, dtype=torch.float32)
    xy, _ = style_costs.grid_points(grid, NN_STYLE_POSITIONS, gen)
    pixels = costs.unroll(image)[0]
    keep = torch.randperm(pixels.shape[1], generator=gen)[:PALETTE_PIXELS].sort().values
    return {
        "points": {layer: style_costs.sample_at(a, xy).float() for layer, a in acts.items()},
        "moments": {layer: moments(a) for layer, a in acts.items()},
        "pixels": pixels[:, keep.to(pixels.device)].float(),
    }


def blend(statistics: Sequence[dict], weights: Sequence[float], layers: Sequence[str]) -> NNTarget:
    """A region's target from its styles' ``statistics`` and blend weights (summing to 1)."""
    centers = {l: sum(w * st["points"][l].mean(0) for st, w in zip(statistics, weights, strict=True)) for l in layers}
    moments = {l: style_costs.mixture_moments([st["moments"][l] for st in statistics], weights) for l in layers}
    pixels = [st["pixels"] for st in statistics]
    pixel_weights = None
    if len(pixels) > 1:
        shares = zip(pixels, weights, strict=True)
        pixel_weights = torch.cat([P.new_full((P.shape[1],), w / P.shape[1]) for P, w in shares])
    return NNTarget(
        styles=[([st["points"][l] - centers[l] for l in layers], w) for st, w in zip(statistics, weights, strict=True)],
        centers=centers,  # type: ignore[arg-type]
        moments=moments,
        palette=(torch.cat(pixels, 1), pixel_weights),
    )


@dataclass
class Region:
    """Where a target applies: its mask at image size and at each layer's (None: everywhere)."""

    target: NNTarget
    mask: Tensor | None
    masks: dict[str, Tensor | None]


class NNCost:
    """``cost(acts, x, gen)``: the nn style cost of a picture ``x`` with activations ``acts``, summed
    over ``regions``. Layers of weight λ_l = 0 take no part (their hypercolumn parts would be 0)."""

    def __init__(self, regions: Sequence[Region], lambdas: dict[str, float]):
        self.regions = list(regions)
        self.layers = [l for l, lam in lambdas.items() if lam > 0]
        self.lam = [lambdas[l] for l in self.layers]
        keep = [i for i, lam in enumerate(lambdas.values()) if lam > 0]
        self.F_S = [
            [(style_costs.hypercolumn([parts[i] for i in keep], self.lam), w) for parts, w in r.target.styles]
            for r in self.regions
        ]

    def __call__(self, acts: dict[str, Tensor], x: Tensor, gen: torch.Generator) -> Tensor:
        V = style_costs.unit_directions(3, PALETTE_DIRECTIONS, gen).to(x.device)
        J = x.new_zeros((), dtype=torch.float32)
        for r, F_S in zip(self.regions, self.F_S, strict=True):
            area = 1.0 if r.mask is None else r.mask.float().mean()
            J = J + area * (
                NN_TERMS["neighbour"] * self._neighbour(r, F_S, acts, x, gen)
                + NN_TERMS["moment"] * self._moments(r, acts)
                + NN_TERMS["palette"] * self._palette(r, x, V)
            )
        return J

    def _neighbour(self, r: Region, F_S: list, acts: dict[str, Tensor], x: Tensor, gen: torch.Generator) -> Tensor:
        grid = (x.shape[-2] // NN_STRIDE, x.shape[-1] // NN_STRIDE)
        m = x.new_ones(grid, dtype=torch.float32)
        if r.mask is not None:
            m = F.interpolate(r.mask, size=grid, mode="area")[0, 0]
        xy, w = style_costs.grid_points(m, NN_POSITIONS, gen)
        if not len(w):
            return x.new_zeros((), dtype=torch.float32)
        parts = [style_costs.sample_at(acts[l], xy) - r.target.centers[l] for l in self.layers]
        F_G = style_costs.hypercolumn(parts, self.lam)
        search = torch.bfloat16 if acts[self.layers[0]].dtype == torch.bfloat16 else None  # natively bf16
        zero = x.new_zeros((), dtype=torch.float32)
        return sum((b * style_costs.nn_cost(F_G, F_s, w, search) for F_s, b in F_S), zero)

    def _moments(self, r: Region, acts: dict[str, Tensor]) -> Tensor:
        J = []
        for layer, lam in zip(self.layers, self.lam, strict=True):
            mu_G, Sigma_G = moments(acts[layer], r.masks[layer])
            J.append(lam * style_costs.moment_cost(mu_G, Sigma_G, *r.target.moments[layer]))
        return torch.stack(J).sum() / sum(self.lam)

    def _palette(self, r: Region, x: Tensor, V: Tensor) -> Tensor:
        pixels, weights = r.target.palette
        S, u_S = style_costs.sorted_projections(pixels, V, weights)
        w = None if r.mask is None else r.mask.reshape(-1)
        return style_costs.palette_cost(x, V, S, u_S, w)
