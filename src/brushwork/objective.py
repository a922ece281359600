"""The total cost for one scale: targets computed once, then ``objective(x)`` per step.

Regions (Gatys et al. 2017 §4): each style image may come with a mask on the content; its Grams
are then compared with guided Grams of the generated image inside the mask only. The part of the
picture no mask covers takes the blend of the styles that have no mask, or no style at all when
every style has one. Without masks there is one region, everywhere, and the costs are exactly the
notes' formulas.

The other statistics (``--style-loss``): w2 (mean and covariance), swd (the features themselves,
projected on new random directions at each evaluation) and nn (``nn_style``: hypercolumns at sampled
points pulled to their nearest style neighbours, found again at each evaluation, beside each layer's
moments and the pixels' palette). Several styles of a region blend as a mixture for swd (each
style's positions weighted by its blend weight: the target is one distribution). A masked region
counts in proportion to its area, as the Gram cost does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from . import costs, nn_style, style_costs
from .config import Config
from .layers import downsampling
from .vgg import VGG19Features


class _NormalizeGrad(torch.autograd.Function):
    """Identity forward; backward divides the gradient by its L1 norm and multiplies by ``w``
    (jcjohnson/neural-style's -normalize_gradients, per loss term)."""

    @staticmethod
    def forward(ctx, x: Tensor, w: float) -> Tensor:
        ctx.w = w
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g: Tensor):
        return g / (g.abs().sum() + 1e-8) * ctx.w, None


@dataclass
class _Region:
    """A part of the picture and the style statistics it should have, per style layer."""

    mask: Tensor | None  # (1, 1, H, W) at image size, in [0, 1]; None = everywhere
    masks: dict[str, Tensor | None] = field(default_factory=dict)  # the mask at each layer's size
    gram: dict[str, Tensor] = field(default_factory=dict)  # per-position Gram Ĝ = G / (n_H·n_W)
    w2: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)  # (μ, Σ^½)
    swd: dict[str, tuple[Tensor, Tensor | None]] = field(default_factory=dict)  # (A_S (n_C, M), weights or None)
    nn: nn_style.NNTarget | None = None


def regions_for(n_styles: int, blend: Sequence[float], masks: dict[int, Tensor]) -> list[tuple[Tensor | None, list]]:
    """(mask or None, [(style index, weight)]) per region; see the module docstring."""
    out: list[tuple[Tensor | None, list]] = []
    for i, m in masks.items():
        out.append((m, [(i, 1.0)]))
    free = [i for i in range(n_styles) if i not in masks]
    if free:
        total = sum(blend[i] for i in free)
        weights = [(i, blend[i] / total) for i in free] if total > 0 else [(i, 1 / len(free)) for i in free]
        if not masks:
            out.append((None, weights))
        else:
            rest = (1 - torch.stack(list(masks.values())).sum(0)).clamp(0, 1)
            if rest.sum() > 0:
                out.append((rest, weights))
    return out


SWD_STYLE_POSITIONS = 65536  # a style's positions kept per layer for swd (sorting cost per step)


def _statistics(acts: dict[str, Tensor], style_loss: str, image: Tensor) -> dict:
    """A style picture's statistic at each layer: its Gram matrix, its (mean, covariance), its
    features (swd; at most SWD_STYLE_POSITIONS, a fixed random subset) or nn's (``nn_style``).
    Fixed seeds: targets depend on the pictures alone, so ``cache`` may reuse them."""
    gen = torch.Generator().manual_seed(0)
    if style_loss == "gram":
        return {layer: costs.style_target(a, 1, 1) for layer, a in acts.items()}
    if style_loss == "swd":
        return {layer: _subsample(costs.unroll(a)[0], gen) for layer, a in acts.items()}
    if style_loss == "nn":
        return nn_style.statistics(acts, image, gen)
    return {layer: costs.mean_cov(a) for layer, a in acts.items()}


def _subsample(A: Tensor, gen: torch.Generator) -> Tensor:
    keep = torch.randperm(A.shape[1], generator=gen)[:SWD_STYLE_POSITIONS].sort().values
    return A[:, keep.to(A.device)].float()


def _blend_into(region: _Region, loss: str, layers: Sequence[str], statistics: list[dict], members: list) -> None:
    """A region's targets from its styles' statistics and blend weights (see the module docstring)."""
    members = [(i, w) for i, w in members if w > 0]
    if loss == "nn":
        region.nn = nn_style.blend([statistics[i] for i, _ in members], [w for _, w in members], layers)
        return
    for layer in layers:
        stats = [(statistics[i][layer], w) for i, w in members]
        if loss == "gram":
            region.gram[layer] = sum(w * st for st, w in stats)
        elif loss == "w2":
            mu = sum(w * st[0] for st, w in stats)
            region.w2[layer] = (mu, costs.sqrtm_psd(sum(w * st[1] for st, w in stats)))
        else:  # swd, a mixture: each position weighs its style's weight over its count
            region.swd[layer] = (
                torch.cat([A for A, _ in stats], 1),
                None if len(stats) == 1 else torch.cat([A.new_full((A.shape[1],), w / A.shape[1]) for A, w in stats]),
            )


class StyleTargets:
    """The style statistics of every region at one scale, computed once for the whole picture
    (also when it is painted in tiles). ``masks``: style index -> ``(1, 1, H, W)`` at image size."""

    def __init__(
        self,
        net: VGG19Features,
        config: Config,
        styles: Sequence[Tensor],
        blend: Sequence[float],
        masks: dict[int, Tensor] | None = None,
    ):
        with torch.no_grad():  # one style's activations at a time: at 1024 px they take ~0.5 GB
            statistics = [_statistics(net(s, config.style_layers), config.style_loss, s) for s in styles]
        self.regions: list[_Region] = []
        for mask, members in regions_for(len(styles), blend, masks or {}):
            region = _Region(mask=mask)
            _blend_into(region, config.style_loss, config.style_layers, statistics, members)
            self.regions.append(region)

    def at(self, layers: Sequence[str]) -> list[_Region]:
        """The regions that cover some of the picture, with their masks brought to each layer's size."""
        return [
            _Region(
                mask=r.mask,
                masks={l: None if r.mask is None else _downsample(r.mask, l) for l in layers},
                gram=r.gram,
                w2=r.w2,
                swd=r.swd,
                nn=r.nn,
            )
            for r in self.regions
            if r.mask is None or r.mask.sum() > 0
        ]


def masked(a: Tensor, m: Tensor | None) -> Tensor:
    """Activations ``a`` inside a region's mask ``m`` at their layer's size (None: everywhere)."""
    return a if m is None else a * m


def gram_region_cost(r: _Region, layer: str, G_G: Tensor, n_C: int, N: int) -> Tensor:
    """One region's Gram cost at ``layer``: ``G_G`` is the Gram of the picture's activations inside
    the region (``masked``), ``N`` the layer's positions. A masked region is compared as a guided
    Gram (``costs.guided_layer_style_cost``) and counts in proportion to its area, so full
    coverage gives the plain cost."""
    m = r.masks[layer]
    if m is None:
        return costs.gram_cost(r.gram[layer] * N, G_G, n_C, N)
    n_m = m.float().sum()  # (the normalization never divides by less than one position)
    return costs.gram_cost(r.gram[layer] * n_m, G_G, n_C, n_m.clamp(min=1.0)) * (n_m / N)


class Objective:
    """``objective(x) -> (J, terms)`` for a generated image ``x`` of the content's size."""

    def __init__(
        self,
        net: VGG19Features,
        config: Config,
        content: Tensor,
        targets: StyleTargets,
        unit: float = 1.0,
        a_C: Tensor | None = None,  # the content's activations at the content layer, if the caller has them
    ):
        self.net, self.cfg = net, config
        self.unit = unit  # the style cost's scale (``gram_unit``; 1: its own)
        self.lambdas = config.lambdas
        self.layers = (config.content_layer, *config.style_layers)
        if a_C is None:
            with torch.no_grad():
                a_C = net(content, [config.content_layer])[config.content_layer]
        self.a_C = a_C
        self.regions = targets.at(config.style_layers)
        self.nn = (
            nn_style.NNCost([nn_style.Region(r.nn, r.mask, r.masks) for r in self.regions if r.nn], self.lambdas)
            if config.style_loss == "nn"
            else None
        )
        self.calls = 0  # evaluations so far: swd's directions and nn's points are new at each

    def _generator(self, x: Tensor) -> torch.Generator:
        """A CPU generator seeded from the run's seed, the evaluation and the picture's size: new
        directions or points at every step (Heitz et al.), the same ones when a run is repeated."""
        key = f"{self.cfg.seed}/{self.calls}/{x.shape[-2]}x{x.shape[-1]}".encode()
        self.calls += 1
        return torch.Generator().manual_seed(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest()) >> 1)

    def backward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``J(x)``, its gradient left in ``x.grad``, and the weighted terms (all detached)."""
        J, terms = self(x)
        J.backward()
        return J.detach(), {k: v.detach() for k, v in terms.items()}

    def __call__(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        cfg = self.cfg
        acts = self.net(x, self.layers)
        a_G = acts[cfg.content_layer]
        if cfg.normalize_gradients:
            a_G = _NormalizeGrad.apply(a_G, cfg.content_weight)
        J_content = costs.content_cost(self.a_C, a_G)
        gen = self._generator(x)
        if cfg.normalize_gradients:
            acts = {l: _NormalizeGrad.apply(acts[l], cfg.beta * self.lambdas[l]) for l in cfg.style_layers}
        J_style = self.style(acts, x, gen)
        if self.unit != 1.0:
            J_style = J_style * self.unit
        J_tv = costs.tv_cost(x)
        J = costs.total_cost(J_content, J_style, cfg.content_weight, cfg.beta) + cfg.tv_weight * J_tv
        return J, {"content": cfg.content_weight * J_content, "style": cfg.beta * J_style, "tv": cfg.tv_weight * J_tv}

    def style(self, acts: dict[str, Tensor], x: Tensor, gen: torch.Generator) -> Tensor:
        """``J_style`` of the picture ``x`` with activations ``acts`` (the style layers'), unscaled."""
        if self.nn is not None:
            return self.nn(acts, x, gen)
        J_layers = {}
        for layer in self.cfg.style_layers:
            a = acts[layer]
            V = (
                style_costs.unit_directions(a.shape[-3], a.shape[-3], gen).to(a.device)
                if self.cfg.style_loss == "swd"
                else None
            )  # K = n_C directions, as Heitz et al.
            # A tile outside every region has no style to match: its style cost is zero.
            zero = a.new_zeros((), dtype=torch.float32)
            J_layers[layer] = sum((self._region_cost(r, layer, a, V) for r in self.regions), zero)
        return costs.style_cost(J_layers, self.lambdas)

    def _region_cost(self, r: _Region, layer: str, a: Tensor, V: Tensor | None) -> Tensor:
        m = r.masks[layer]
        n_H, n_W = a.shape[-2:]
        if self.cfg.style_loss == "w2":
            mu, sqrt_Sigma = r.w2[layer]
            J = costs.layer_style_cost_w2(mu, sqrt_Sigma, a, m)
        elif self.cfg.style_loss == "swd" and V is not None:
            A_S, w_S = r.swd[layer]
            S, u_S = style_costs.sorted_projections(A_S, V, w_S)
            J = style_costs.swd_cost(costs.unroll(a)[0], V, S, u_S, None if m is None else m.reshape(-1))
        else:
            return gram_region_cost(r, layer, costs.gram_matrix(costs.unroll(masked(a, m))), a.shape[-3], n_H * n_W)
        return J if m is None else J * (m.sum() / (n_H * n_W))


def _downsample(mask: Tensor, layer: str) -> Tensor:
    """A mask at image size brought to a layer's size (the area average of each pooled cell)."""
    f = 2 ** downsampling(layer)
    return F.interpolate(mask, size=(mask.shape[-2] // f, mask.shape[-1] // f), mode="area")
