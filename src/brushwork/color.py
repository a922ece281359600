"""Colour spaces for keeping the content's colours (jcjohnson's -original_colors; Gatys et al.
2017 §5.1, luminance-only transfer): take the output's luminance Y and the content's chroma I, Q."""

from __future__ import annotations

import torch
from torch import Tensor

# NTSC YIQ (FCC 1953 coefficients).
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                            [0.595716, -0.274453, -0.321263],
                            [0.211456, -0.522591, 0.311135]])


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
