"""Picture-quality measures that no tool's own loss scaling can bias (issue: quality benchmark).

Both use the original VGG19 (the bundled Caffe weights, max pooling, no normalization):

* ``content_dist = ‖F(out) − F(content)‖² / ‖F(content)‖²`` at relu4_2, the content resized to the
  output's size;
* ``style_dist`` = mean over relu1_1…relu5_1 of ``‖Gn(out) − Gn(style)‖_F / ‖Gn(style)‖_F`` with
  ``Gn = F·Fᵀ/(H·W)``, the style image resized to the output's longest side.

Lower is better for both.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from . import images
from .costs import gram_matrix, unroll
from .vgg import VGG19Features
from .weights import load_weights

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
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


def style_dist(out: images.ImageLike, style: images.ImageLike, device: str = "cpu",
               mask: Tensor | None = None) -> float:
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
