"""Style costs beyond Gatys's Gram matrices, one pure function per formula.

* Sliced Wasserstein (Heitz, Vanhoey, Chambon, Belcour, CVPR 2021, "A Sliced Wasserstein Loss for
  Neural Texture Synthesis"): a layer's features are projected on random unit directions ``V`` and
  each projection's sorted values (its quantile function) are compared with the style's.
* Neural neighbours (Kolkin et al. 2022, "Neural Neighbor Style Transfer"; STROTSS, Kolkin, Salavon,
  Shakhnarovich, CVPR 2019): each output hypercolumn is pulled toward its nearest style hypercolumn
  by cosine distance, the neighbours found again at every evaluation; beside it, as STROTSS, each
  layer's mean and covariance (``moment_cost``) and the pixels' colours (``palette_cost``) are matched.

Shapes: ``A`` unrolled features ``(n_C, N)`` (``N`` positions), ``V`` directions ``(n_C, K)``,
sorted projections ``(K, N)``, hypercolumns ``(P, D)``, means ``(n_C,)``, covariances ``(n_C, n_C)``.
Sums accumulate in float32 (float64 for float64 inputs, for gradcheck). This module sits in the
layer of ``costs`` and imports only torch (and numpy, which sorts faster on the CPU).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def _acc(x: Tensor) -> Tensor:
    return x.double() if x.dtype == torch.float64 else x.float()


def unit_directions(n_C: int, K: int, generator: torch.Generator, dtype=torch.float32) -> Tensor:
    """``K`` random unit directions in ``R^{n_C}``, uniform on the sphere: ``V`` ``(n_C, K)``, drawn on
    the CPU from ``generator`` so that a seeded run repeats bit for bit."""
    V = torch.randn(n_C, K, generator=generator, dtype=torch.float64)
    return (V / V.norm(dim=0, keepdim=True)).to(dtype)


def levels(w_sorted: Tensor) -> Tensor:
    """Quantile levels of sorted samples with weights ``w_sorted`` ``(K, N)``: the midpoint of each
    sample's share of the cumulative weight, ``u_i = (Σ_{j≤i} w_j − w_i/2) / Σ_j w_j`` (equal weights:
    ``(i + ½)/N``)."""
    return (w_sorted.cumsum(-1) - w_sorted / 2) / w_sorted.sum(-1, keepdim=True)


def quantile_at(s: Tensor, u: Tensor | None, c: Tensor | None, N: int | None = None) -> Tensor:
    """The quantile function with values ``s`` at levels ``u`` (both ``(K, M)``, increasing along M),
    linearly interpolated at levels ``c`` ``(K, N)`` and constant beyond the first and last level.
    This is how Heitz et al. compare distributions with different numbers of samples. ``u`` None:
    equal weights, ``(i + ½)/M``; ``c`` None: the equal-weight levels of ``N`` samples, the same in
    every row, so the interpolation is worked out once for all rows (no search)."""
    M = s.shape[-1]
    if c is None and u is None:
        assert N is not None
        if N == M:
            return s
        pos = (torch.arange(N, dtype=torch.float64) + 0.5) * (M / N) - 0.5  # c·M − ½ on the index axis
        lo = pos.floor().clamp(0, M - 1)
        t = (pos - lo).clamp(0, 1).to(s.dtype).to(s.device)
        lo = lo.long().to(s.device)
        s_lo, s_hi = s.index_select(-1, lo), s.index_select(-1, (lo + 1).clamp(max=M - 1))
        return s_lo + t * (s_hi - s_lo)
    if u is None:
        u = levels(torch.ones_like(s))
    if c is None:
        assert N is not None
        c = levels(s.new_ones((s.shape[0], N)))
    j = torch.searchsorted(u.contiguous(), c.contiguous())
    lo, hi = (j - 1).clamp(0, M - 1), j.clamp(0, M - 1)
    u_lo, u_hi = u.gather(-1, lo), u.gather(-1, hi)
    t = torch.where(u_hi > u_lo, (c - u_lo) / (u_hi - u_lo).clamp(min=1e-12), torch.zeros_like(c)).clamp(0, 1)
    s_lo, s_hi = s.gather(-1, lo), s.gather(-1, hi)
    return s_lo + t * (s_hi - s_lo)


def sort_rows(P: Tensor, values_only: bool = False) -> tuple[Tensor, Tensor | None]:
    """``(values, order)`` of each row of ``P`` sorted ascending (order None if ``values_only``).
    On the CPU numpy sorts (its AVX-512 sorts run ~10× faster than torch 2.13's on values, 2.5× on
    the order); the values are gathered by the order, so gradients flow as through ``torch.sort``."""
    if P.device.type != "cpu" or P.dtype not in (torch.float32, torch.float64):
        return P.sort(dim=-1) if not values_only else (P.sort(dim=-1).values, None)
    rows = P.detach().numpy()
    if values_only:
        return torch.from_numpy(_by_rows(np.sort, rows)), None
    order = torch.from_numpy(_by_rows(np.argsort, rows))
    return P.gather(-1, order), order


_SORTERS: dict[int, ThreadPoolExecutor] = {}  # by thread count, made on first use


def _by_rows(sort, rows: np.ndarray) -> np.ndarray:
    """``sort(rows, axis=-1)``, the rows split among torch's threads (numpy sorts on one core and
    lets go of the GIL meanwhile)."""
    n = min(torch.get_num_threads(), len(rows))
    if n < 2 or rows.size < 2**16:
        return sort(rows, axis=-1)
    pool = _SORTERS.setdefault(n, ThreadPoolExecutor(n, thread_name_prefix="brushwork-sort"))
    return np.concatenate(list(pool.map(lambda part: sort(part, axis=-1), np.array_split(rows, n))))


def sorted_projections(A: Tensor, V: Tensor, w: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """``(sort(Vᵀ·A), levels)``: each direction's projections of the features ``A`` ``(n_C, N)``
    sorted, ``(K, N)``, and their quantile levels (``w`` ``(N,)``: each position's weight; None: equal
    weights, and the levels are None too, see ``quantile_at``)."""
    P, order = sort_rows(V.T.to(A.dtype) @ A, values_only=w is None)
    if w is None:
        return P, None
    assert order is not None
    return P, levels(w.to(P.dtype)[order])


def swd_cost(A_G: Tensor, V: Tensor, S: Tensor, u_S: Tensor | None, w: Tensor | None = None) -> Tensor:
    """Sliced Wasserstein cost of one layer (Heitz et al. 2021, eq. 5, with weights):
    ``J = 1/(K·Σw) · Σ_k Σ_i w_(i) · (sort(V_kᵀA_G)_i − Q_S,k(u_i))²``.

    A_G: the output's features ``(n_C, N)``; V: directions ``(n_C, K)``; S, u_S: the style's sorted
    projections on V and their levels ``(K, M)`` (``sorted_projections``; u_S None: equal weights),
    M need not equal N; w: the output positions' weights ``(N,)`` (a region's mask; None: all 1).
    ``Q_S,k(u)`` is the style's quantile function at the output sample's level, so equal counts
    compare sorted values one to one. A mean over directions and positions: the same at every size.
    """
    A_G = _acc(A_G)
    if w is not None:  # positions outside the region take no part in the sort
        keep = w > 0
        A_G, w = A_G[:, keep], _acc(w)[keep]
    P_G, order = sort_rows(V.T.to(A_G.dtype) @ A_G)
    if w is None:
        T = quantile_at(_acc(S), None if u_S is None else _acc(u_S), None, P_G.shape[-1])
        return ((P_G - T) ** 2).mean()
    assert order is not None
    w_sorted = w[order]
    T = quantile_at(_acc(S), None if u_S is None else _acc(u_S), levels(w_sorted))
    return (w_sorted * (P_G - T) ** 2).sum() / (w_sorted.sum().clamp(min=1e-12))


def gram_unit(J_gram: float, J_own: float, gamma: float = 1.0, bound: float = 100.0) -> float:
    """A style cost's scale in gram's units, ``u = (J_gram(P) / J_own(P))^γ``: both style costs of
    the same picture P (the photo), so that with γ = 1 ``u·J_own`` equals gram's cost there. Gram's
    cost is a fourth power of the features and w2's or swd's a square, so at one β they weigh
    paintings differently; ``u`` takes that out (γ < 1: part of it). The ratio is kept within
    ``[1/bound, bound]``, and ``u`` is 1 where either cost is not a positive number (a photo that
    already has the painting's statistics)."""
    if not (J_gram > 0 and J_own > 0 and math.isfinite(J_gram) and math.isfinite(J_own)):
        return 1.0
    return min(max(J_gram / J_own, 1 / bound), bound) ** gamma


def sample_at(a: Tensor, xy: Tensor) -> Tensor:
    """Features ``a`` ``(1, n_C, n_H, n_W)`` bilinearly sampled at points ``xy`` ``(P, 2)`` given as
    (x, y) in [-1, 1] over the whole picture (``align_corners=False``: the same point at every
    layer's resolution, as STROTSS samples hypercolumns; zero outside). Returns ``(P, n_C)`` in
    float32. One gather of the four corners' rows of the (positions × channels) matrix, which
    channels-last activations are without a copy (its backward fills one zero matrix, not four);
    torch 2.13's CPU ``grid_sample`` reads past bfloat16 inputs (NaN where freed memory held NaN),
    so it is not used."""
    n_C, n_H, n_W = a.shape[-3:]
    X = a.permute(0, 2, 3, 1).reshape(n_H * n_W, n_C)  # no select: its backward would copy all of a
    ix, iy = ((xy[:, 0] + 1) * n_W - 1) / 2, ((xy[:, 1] + 1) * n_H - 1) / 2  # pixel centres at integers
    x0, y0 = ix.floor(), iy.floor()
    fx, fy = ix - x0, iy - y0
    rows, weights = [], []
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi < n_W) & (yi >= 0) & (yi < n_H)
        rows.append((yi.clamp(0, n_H - 1) * n_W + xi.clamp(0, n_W - 1)).long())
        weights.append(w * inside)
    picked = X[torch.cat(rows).to(a.device)].float() * torch.cat(weights).to(a.device)[:, None]
    return picked.reshape(4, xy.shape[0], n_C).sum(0)


def hypercolumn(parts: Sequence[Tensor], lambdas: Sequence[float]) -> Tensor:
    """``f = [√λ_1·â_1, …, √λ_L·â_L]``, ``â_l = a_l / ‖a_l‖`` per position: one layer's features per
    part ``(P, n_C^l)``. Normalizing each layer first gives ``f·g = Σ_l λ_l·cos(a_l, b_l)``, so a
    deep layer's many channels do not outweigh a shallow one's (we depart from STROTSS here, which
    normalizes the concatenation); with ``Σλ = 1``, ``‖f‖ = 1``."""
    return torch.cat(
        [F.normalize(_acc(p), dim=1, eps=1e-8) * lam**0.5 for p, lam in zip(parts, lambdas, strict=True)], dim=1
    )


def nearest(F_G: Tensor, F_S: Tensor, chunk: int = 1024, dtype: torch.dtype | None = None) -> Tensor:
    """For each row of ``F_G`` ``(P, D)`` the index of the row of ``F_S`` ``(Q, D)`` with the largest
    dot product (the nearest by cosine distance for unit rows), ``(P,)``. Found without gradient and
    ``chunk`` rows at a time, so memory stays ``chunk·Q`` whatever P; in ``dtype`` if given (bfloat16
    where the hardware multiplies it natively: 3× faster on the CPU, and a neighbour it picks instead
    lies within bfloat16's rounding, under 1 % in cosine, of the nearest)."""
    with torch.no_grad():
        dtype = dtype or F_G.dtype
        G, S_T = F_G.to(dtype), F_S.to(device=F_G.device, dtype=dtype).T
        return torch.cat([(G[i : i + chunk] @ S_T).argmax(dim=1) for i in range(0, G.shape[0], chunk)])


def nn_cost(F_G: Tensor, F_S: Tensor, w: Tensor | None = None, search: torch.dtype | None = None) -> Tensor:
    """Neural-neighbour cost (NNST 2022 §3, STROTSS's ``ℓ_r`` with the nearest neighbour only):
    ``J = Σ_i w_i·(1 − f_i·s_{nn(i)}) / Σ_i w_i``, ``nn(i) = argmax_j f_i·s_j``.

    F_G: output hypercolumns ``(P, D)``, unit rows (``hypercolumn``); F_S: the style's ``(Q, D)``;
    w: each output position's weight ``(P,)`` (None: all 1); search: the dtype the neighbours are
    found in (``nearest``). The neighbours are constants of the step: the gradient pulls each f_i
    toward the s it matched, as in the papers.
    """
    F_G = _acc(F_G)
    s = _acc(F_S)[nearest(F_G, F_S, dtype=search)]
    d = 1 - (F_G * s).sum(dim=1)
    if w is None:
        return d.mean()
    w = _acc(w)
    return (w * d).sum() / w.sum().clamp(min=1e-12)


def grid_points(w: Tensor, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """At most ``n`` cells of a grid with weights ``w`` ``(g_H, g_W)``, drawn at random without
    replacement among the cells of positive weight: ``(xy (P, 2), w (P,))``, ``xy`` the cells'
    centres as (x, y) in [-1, 1] (``sample_at``'s convention). Drawing a bounded number keeps the
    neighbour search's memory and time bounded at any size (the published NNST code holds every
    position and needs about 6 GB at 512 px)."""
    g_H, g_W = w.shape
    cells = (w.reshape(-1) > 0).nonzero()[:, 0].cpu()
    if cells.numel() > n:
        cells = cells[torch.randperm(cells.numel(), generator=generator)[:n]].sort().values
    y, x = cells // g_W, cells % g_W
    xy = torch.stack([(x + 0.5) / g_W * 2 - 1, (y + 0.5) / g_H * 2 - 1], dim=1).to(w.device, torch.float32)
    return xy, w.reshape(-1)[cells.to(w.device)]


def moment_cost(mu_G: Tensor, Sigma_G: Tensor, mu_S: Tensor, Sigma_S: Tensor) -> Tensor:
    """Moment matching of one layer (STROTSS's ``ℓ_m``), on the Gram cost's scale:
    ``J = (‖μ_G μ_Gᵀ − μ_S μ_Sᵀ‖_F² + ‖Σ_G − Σ_S‖_F²) / (4·n_C²)``.

    mu_G, mu_S: mean feature vectors ``(n_C,)``; Sigma_G, Sigma_S: covariances ``(n_C, n_C)``
    (``costs.mean_cov``). The per-position Gram is ``G/N = Σ + μμᵀ``, so this is ``costs.gram_cost``
    of ``G/N`` with its two parts compared apart (their cross term dropped): absolute, not relative
    to the style's size, and neither part can stand in for the other. Zero iff both moments agree.
    """
    n_C = mu_G.shape[-1]
    mu_G, mu_S = _acc(mu_G), _acc(mu_S).to(mu_G.device)
    d_mu = torch.outer(mu_G, mu_G) - torch.outer(mu_S, mu_S)
    d_Sigma = _acc(Sigma_G) - _acc(Sigma_S).to(mu_G.device)
    return ((d_mu**2).sum() + (d_Sigma**2).sum()) / (4 * n_C**2)


def mixture_moments(moments: Sequence[tuple[Tensor, Tensor]], weights: Sequence[float]) -> tuple[Tensor, Tensor]:
    """Mean ``(n_C,)`` and covariance ``(n_C, n_C)`` of a mixture of distributions with means and
    covariances ``moments`` and weights ``weights`` (summing to 1):
    ``μ = Σ_i w_i μ_i``, ``Σ = Σ_i w_i (Σ_i + μ_i μ_iᵀ) − μ μᵀ``. Its ``Σ + μμᵀ`` is the blend of the
    styles' per-position Grams, as gram blends them."""
    mu = sum(w * m for (m, _), w in zip(moments, weights, strict=True))
    second = sum(w * (S + torch.outer(m, m)) for (m, S), w in zip(moments, weights, strict=True))
    assert isinstance(mu, Tensor) and isinstance(second, Tensor)
    return mu, second - torch.outer(mu, mu)


def palette_cost(x: Tensor, V: Tensor, S: Tensor, u_S: Tensor | None, w: Tensor | None = None) -> Tensor:
    """Palette cost (STROTSS's colour term, as a sliced Wasserstein distance): how far the picture's
    colours lie from the painting's colour distribution,
    ``J = 1/(K·Σw) · Σ_k Σ_i w_(i) · (sort(V_kᵀx)_i − Q_S,k(u_i))²``: ``swd_cost`` of the pixels.

    x: the picture ``(1, 3, H, W)`` in [0, 1]; V: colour directions ``(3, K)``; S, u_S: the painting's
    pixels ``(3, M)`` projected on V and sorted, with their levels (``sorted_projections``); w: each
    pixel's weight ``(H·W,)`` (a region's mask; None: all 1). A mean, in squared units of the [0, 1] range.
    """
    return swd_cost(x.reshape(x.shape[-3], -1), V, S, u_S, w)
