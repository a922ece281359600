"""Picture-quality measures that no tool's own loss scaling can bias (issue: quality benchmark).

Both use the original VGG19 (the bundled Caffe weights, max pooling, no normalization):

* ``content_dist = ‖F(out) − F(content)‖² / ‖F(content)‖²`` at relu4_2, the content resized to the
  output's size;
* ``style_dist`` = mean over relu1_1…relu5_1 of ``‖Gn(out) − Gn(style)‖_F / ‖Gn(style)‖_F`` with
  ``Gn = F·Fᵀ/(H·W)``, the style image resized to the output's longest side.
* ``swd_dist`` = mean over relu1_1…relu4_1 of ``√(SW₂² / spread²)``: the sliced Wasserstein
  distance (Heitz et al. 2021) of the output's and the style's features on SWD_DIRECTIONS fixed
  random directions, relative to the spread of the style's own projections (their mean variance),
  so 1 means "as far as the style's features lie from their own mean";
* ``color_dist`` = mean over R, G, B of the Wasserstein-1 distance between the output's and the
  style's distributions of levels (0–255): how far, in levels, the colours must move to match.

Lower is better for all. The last two judge distributions, as swd and nn optimize them, but with
other directions, layers and no sampling; gram and w2 optimize neither.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from . import images
from .costs import gram_matrix, unroll
from .style_costs import quantile_at, unit_directions
from .vgg import VGG19Features
from .weights import load_weights

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
SWD_LAYERS = STYLE_LAYERS[:4]
SWD_DIRECTIONS, SWD_SEED = 256, 0
CONTENT_LAYER = "relu4_2"


@functools.lru_cache(maxsize=2)
def _net(device: str) -> VGG19Features:
    return VGG19Features(load_weights(), last="relu5_1", pooling="max", normalize=False).to(device)


def _gn(a: Tensor, mask: Tensor | None = None) -> Tensor:
    """``Gn = F·Fᵀ/(H·W)``; with a mask, over the masked positions only (their count divides)."""
    if mask is not None:
        m = torch.nn.functional.interpolate(mask, size=a.shape[-2:], mode="area")
        a = a * m
        return gram_matrix(unroll(a))[0] / m.sum().clamp(min=1e-6)
    return gram_matrix(unroll(a))[0] / (a.shape[-2] * a.shape[-1])


def content_dist(out: images.ImageLike, content: images.ImageLike, device: str = "cpu") -> float:
    out_t = images.load(out).to(device)
    content_t = images.resize(images.load(content), tuple(out_t.shape[-2:])).to(device)
    net = _net(device)
    with torch.no_grad():
        F_out = net(out_t, [CONTENT_LAYER])[CONTENT_LAYER].float()
        F_c = net(content_t, [CONTENT_LAYER])[CONTENT_LAYER].float()
    return ((F_out - F_c).pow(2).sum() / F_c.pow(2).sum()).item()


def style_dist(
    out: images.ImageLike, style: images.ImageLike, device: str = "cpu", mask: Tensor | None = None
) -> float:
    """``mask`` (``(1, 1, H, W)`` in [0, 1], the output's size) restricts the output's statistics
    to a region, for measuring spatial control."""
    out_t = images.load(out).to(device)
    style_t = images.load(style)
    style_t = images.resize(style_t, images.fit(max(out_t.shape[-2:]), *style_t.shape[-2:])).to(device)
    net = _net(device)
    with torch.no_grad():
        a_out = net(out_t, STYLE_LAYERS)
        a_s = net(style_t, STYLE_LAYERS)
    dists = []
    for layer in STYLE_LAYERS:
        G_out = _gn(a_out[layer].float(), None if mask is None else mask.to(device).float())
        G_s = _gn(a_s[layer].float())
        dists.append((torch.linalg.matrix_norm(G_out - G_s) / torch.linalg.matrix_norm(G_s)).item())
    return sum(dists) / len(dists)


def _style_like(out_t: Tensor, style: images.ImageLike, device: str) -> Tensor:
    """The style picture resized to the output's longest side (as ``style_dist`` compares them)."""
    style_t = images.load(style)
    return images.resize(style_t, images.fit(max(out_t.shape[-2:]), *style_t.shape[-2:])).to(device)


def wasserstein(P: Tensor, Q: Tensor, p: int = 2) -> Tensor:
    """``W_p^p`` of each row's empirical distribution: ``P`` ``(K, N)`` against ``Q`` ``(K, M)``, the
    sorted values of P against Q's quantiles at the same levels, ``(K,)``."""
    P, Q = P.sort(-1).values, Q.sort(-1).values
    T = quantile_at(Q, None, None, P.shape[-1])
    return (P - T).abs().pow(p).mean(-1)


def sliced_dist(A_out: Tensor, A_s: Tensor, V: Tensor) -> float:
    """``√(mean_k SW₂²_k / mean_k Var(V_kᵀA_s))`` for features ``(n_C, N)`` and ``(n_C, M)``."""
    P_s = V.T @ A_s
    return (wasserstein(V.T @ A_out, P_s).mean() / P_s.var(-1, correction=0).mean().clamp(min=1e-12)).sqrt().item()


def swd_dist(out: images.ImageLike, style: images.ImageLike, device: str = "cpu") -> float:
    out_t = images.load(out).to(device)
    style_t = _style_like(out_t, style, device)
    net, gen = _net(device), torch.Generator().manual_seed(SWD_SEED)
    with torch.no_grad():
        a_out, a_s = net(out_t, SWD_LAYERS), net(style_t, SWD_LAYERS)
        dists = [
            sliced_dist(
                unroll(a_out[l].float())[0],
                unroll(a_s[l].float())[0],
                unit_directions(a_s[l].shape[1], SWD_DIRECTIONS, gen).to(device),
            )
            for l in SWD_LAYERS
        ]
    return sum(dists) / len(dists)


def color_dist(out: images.ImageLike, style: images.ImageLike) -> float:
    """Mean over channels of ``W₁`` between the pictures' levels (0–255); the style at the output's size."""
    out_t = images.load(out).float()
    style_t = _style_like(out_t, style, "cpu").float()
    return wasserstein(out_t[0].flatten(1) * 255, style_t[0].flatten(1) * 255, p=1).mean().item()
