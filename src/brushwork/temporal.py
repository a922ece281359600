"""Temporal consistency for video (Ruder et al. 2016, "Artistic style transfer for videos"):
optical flow between frames, the previous painted frame warped onto the next, the weights ``c``
that leave out occluded pixels and motion boundaries, and the temporal cost added to a frame's
objective. Flow comes from OpenCV (DIS or Farnebäck), which installs offline; no network models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from . import costs, images

FLOWS = ("dis", "farneback")


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def flow(a: np.ndarray, b: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow from frame ``a`` to frame ``b`` (``(H, W, 3)`` uint8 RGB): ``(H, W, 2)`` float32
    (dx, dy) with ``a(p) ≈ b(p + flow(p))``."""
    import cv2

    ga, gb = _gray(a), _gray(b)
    if method == "dis":
        # Neither call is in opencv's type stubs as it is used here (the first not at all; flow=None).
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
        return dis.calc(ga, gb, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 15, 3, 5, 1.2, 0)  # type: ignore[call-overload]
    raise ValueError(f"unknown flow method {method!r}; use one of {', '.join(FLOWS)}")


def warp(image: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``image`` sampled at ``p + f(p)`` (bilinear, edges replicated): with ``f`` the flow from
    frame t to frame t−1, this brings frame t−1's picture onto frame t."""
    import cv2

    h, w = f.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + f[..., 0], gy + f[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistency(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Ruder et al.'s weights ``c`` ``(H, W)`` in {0, 1} for frame t, from the flow t→t−1
    (``backward``) and t−1→t (``forward``): 0 where following one flow and then the other does not
    come back (occlusion: |w̃ + ŵ|² > 0.01(|w̃|² + |ŵ|²) + 0.5), where the flow changes fast
    (motion boundary: |∇u|² + |∇v|² > 0.01|w̃|² + 0.002) or where it leads out of frame t−1
    (new at the frame's edge), else 1."""
    f_back = warp(forward, backward)  # the forward flow at the point each pixel came from
    s = backward + f_back
    occluded = (s**2).sum(-1) > 0.01 * ((backward**2).sum(-1) + (f_back**2).sum(-1)) + 0.5
    du = np.gradient(backward[..., 0])
    dv = np.gradient(backward[..., 1])
    edge = du[0] ** 2 + du[1] ** 2 + dv[0] ** 2 + dv[1] ** 2 > 0.01 * (backward**2).sum(-1) + 0.002
    # What came in over the frame's edge (a pan) was nowhere in frame t−1: the warp only smeared
    # the border there, which the temporal cost must not hold on to.
    h, w = backward.shape[:2]
    gy, gx = np.mgrid[0:h, 0:w]
    sx, sy = gx + backward[..., 0], gy + backward[..., 1]
    outside = (sx < 0) | (sx > w - 1) | (sy < 0) | (sy > h - 1)
    return (~(occluded | edge | outside)).astype(np.float32)


@dataclass(frozen=True)
class Temporal:
    """What painting frame t needs from frame t−1, as the engine's ``scales.Hook``: ``init`` the
    picture to start from ``(1, 3, H, W)``, ``w`` the previous painted frame warped onto this one
    ``(1, 3, H, W)``, ``c`` its weights ``(1, 1, H, W)``, and the temporal cost's weight."""

    init: Tensor
    w: Tensor
    c: Tensor
    weight: float

    def start(self, content: Tensor) -> Tensor:
        """``init`` at the size of ``content`` (the photo at the scale's size), on its device."""
        return images.resize(self.init.float(), tuple(content.shape[-2:])).to(content.device).clone()

    def wrap(self, objective, content: Tensor) -> TemporalObjective:
        """The objective of one scale with the temporal cost added, ``w`` and ``c`` at its size."""
        hw = tuple(content.shape[-2:])
        w = images.resize(self.w, hw).to(content.device).clone()  # never the picture being optimized
        c = torch.nn.functional.interpolate(self.c, size=hw, mode="nearest").to(content.device)  # stays 0 or 1
        return TemporalObjective(objective, w, c, self.weight)


class TemporalObjective:
    """A frame's objective plus γ·J_temporal; the extra gradient is added to ``x.grad`` after the
    inner objective's backward, so this works over whole and tiled objectives alike."""

    def __init__(self, inner, w: Tensor, c: Tensor, weight: float):
        self.inner, self.w, self.c, self.weight = inner, w, c, weight

    def backward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        J, terms = self.inner.backward(x)
        J_t = self.weight * costs.temporal_cost(x, self.w, self.c)
        J_t.backward()
        return J + J_t.detach(), {**terms, "temporal": J_t.detach()}


def between(
    prev_frame: np.ndarray, frame: np.ndarray, prev_painted: Tensor, weight: float, method: str = "dis"
) -> Temporal:
    """The ``Temporal`` for painting ``frame``; it starts from the previous painted frame warped onto
    it, and from the photo where that frame saw nothing. Frames are ``(H, W, 3)`` uint8 at the
    painted size."""
    back, fwd = flow(frame, prev_frame, method), flow(prev_frame, frame, method)
    painted = prev_painted[0].permute(1, 2, 0).numpy().astype(np.float32)
    warped = torch.from_numpy(warp(painted, back)).permute(2, 0, 1)[None].clamp(0, 1).contiguous()
    c = torch.from_numpy(consistency(back, fwd))[None, None]
    # Where nothing of frame t−1 is seen (occluded, or new at the edge in a pan) the warp has only
    # smeared its neighbours; start from the photo there, as a first frame does.
    start = c * warped + (1 - c) * images.from_uint8(frame)
    return Temporal(start, warped, c, weight)


def flicker(frames: list[np.ndarray], painted: list[np.ndarray], method: str = "dis") -> float:
    """The mean absolute change (in 0–255 levels) from each painted frame to the next where the
    input's flow says the same surface is seen, after following that flow: 0 for a video whose
    painting moves exactly with its content. (The temporal error of Ruder et al. §6.)"""
    errors = []
    for t in range(1, len(frames)):
        back, fwd = flow(frames[t], frames[t - 1], method), flow(frames[t - 1], frames[t], method)
        c = consistency(back, fwd)[..., None]
        moved = warp(painted[t - 1].astype(np.float32), back)
        errors.append(float((c * np.abs(painted[t].astype(np.float32) - moved)).sum() / (3 * c.sum() + 1e-8)))
    return float(np.mean(errors)) if errors else 0.0
