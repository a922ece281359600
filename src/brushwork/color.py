"""Colour control (Gatys et al. 2017 §5; jcjohnson's -original_colors).

* ``keep_colors``: the output's luminance with the content's chroma (after the transfer).
* ``luminance`` / ``match_luminance``: luminance-only transfer — paint on Y alone, with the style's
  Y matched to the content's mean and spread, then put the content's chroma back.
* ``match_colors``: the style image's colours moved to the content's mean and covariance before
  the transfer (a linear map, as in Gatys 2017 §5.2).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .costs import sqrtm_psd

# NTSC YIQ (FCC 1953 coefficients).
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])


def rgb_to_yiq(rgb: Tensor) -> Tensor:
    """``(..., 3, H, W)`` RGB -> YIQ, same shape."""
    m = _RGB_TO_YIQ.to(rgb)
    return torch.einsum("ij,...jhw->...ihw", m, rgb)


def yiq_to_rgb(yiq: Tensor) -> Tensor:
    """``(..., 3, H, W)`` YIQ -> RGB, same shape (exact inverse of ``rgb_to_yiq``)."""
    m = torch.linalg.inv(_RGB_TO_YIQ.double()).to(yiq)
    return torch.einsum("ij,...jhw->...ihw", m, yiq)


def keep_colors(content: Tensor, generated: Tensor) -> Tensor:
    """The generated image's luminance with the content's chroma, clamped to [0, 1].

    content, generated: ``(m, 3, H, W)`` RGB in [0, 1], same shape.
    """
    y = rgb_to_yiq(generated)[..., :1, :, :]
    iq = rgb_to_yiq(content)[..., 1:, :, :]
    return yiq_to_rgb(torch.cat([y, iq], dim=-3)).clamp(0, 1)


def luminance(image: Tensor) -> Tensor:
    """Y of ``(m, 3, H, W)`` RGB as a grey RGB image (the network still takes three channels)."""
    return rgb_to_yiq(image)[..., :1, :, :].expand_as(image).clamp(0, 1).contiguous()


def match_luminance(style: Tensor, content: Tensor) -> Tensor:
    """Grey style luminance with the content luminance's mean and standard deviation (§5.1)."""
    y_s, y_c = luminance(style)[:, :1], luminance(content)[:, :1]
    y = (y_s - y_s.mean()) * (y_c.std() / y_s.std().clamp(min=1e-6)) + y_c.mean()
    return y.expand_as(style).clamp(0, 1).contiguous()


def _mean_cov(image: Tensor) -> tuple[Tensor, Tensor]:
    x = image.reshape(3, -1).double()
    mu = x.mean(1, keepdim=True)
    d = x - mu
    return mu, d @ d.T / d.shape[1] + 1e-5 * torch.eye(3, dtype=torch.float64)


def match_colors(style: Tensor, content: Tensor) -> Tensor:
    """Move the style's pixel colours to the content's mean and covariance:
    ``x' = Σ_C^½ Σ_S^-½ (x − μ_S) + μ_C`` (the symmetric, rotation-free choice of Gatys 2017 §5.2)."""
    mu_s, cov_s = _mean_cov(style[0])
    mu_c, cov_c = _mean_cov(content[0])
    A = sqrtm_psd(cov_c) @ torch.linalg.inv(sqrtm_psd(cov_s))
    x = style[0].reshape(3, -1).double()
    out = A @ (x - mu_s) + mu_c
    return out.reshape_as(style[0]).unsqueeze(0).float().clamp(0, 1)
