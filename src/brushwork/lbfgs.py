"""L-BFGS in the compact matrix form, with no host-device synchronization inside a step.

torch.optim.LBFGS runs the classic two-loop recursion: with jcjohnson's history of 100 pairs that
is some 600 tiny kernels per step, each ``alpha=tensor`` a device-to-host copy. On a GPU those
cost more than the network itself (a VGG19 step at 512 px takes about a millisecond on an H100).
Here the inverse-Hessian product uses the compact representation of Byrd, Nocedal and Schnabel
(1994, "Representations of quasi-Newton matrices", Thm. 2.2):

    H = γI + [S  γY] · [[R⁻ᵀ(D + γYᵀY)R⁻¹, −R⁻ᵀ], [−R⁻¹, 0]] · [Sᵀ; γYᵀ]

with S, Y the stored steps and gradient changes (one row each), R the upper triangle of SᵀY, D its
diagonal and γ = sᵀy / yᵀy of the newest pair: a handful of matrix products whatever the history.
The iterates are those of torch.optim.LBFGS with ``max_iter=1`` and no line search (as
jcjohnson/neural-style runs it): the first step is scaled by min(1, 1/‖g‖₁)·lr, then lr; but for
as long as no pair has been stored (each had sᵀy ≤ 0), every step is scaled as the first.

With ``fine`` < 1 (``--lbfgs-fine``) the same method runs on z, x = x₀ + P·z, P the filter of
``precondition.py``: the gradient it sees is P·g and its step moves x by P·d (a departure from
Gatys et al. and jcjohnson, who step on the pixels; measured in benchmarks/results/schedule-study-cpu.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from . import precondition


class LBFGS:
    """Minimizes over one tensor ``x`` (its ``.grad`` filled by the closure). ``history``: pairs
    kept (the memory is ``2·history·x.numel()`` floats, allocated as pairs arrive). ``fine`` < 1: in
    the variables ``z`` of ``x = x₀ + P·z``, ``P`` scaling the picture's finest detail by ``fine``
    (``precondition.py``; ``x`` must then be a ``(1, C, h, w)`` picture). ``max_move``: a step is
    shortened so that no value of ``x`` changes by more than this."""

    def __init__(
        self, x: Tensor, lr: float = 1.0, history: int = 100, fine: float = 1.0, max_move: float | None = None
    ):
        if history < 1:
            raise ValueError(f"history must be at least 1, not {history}")
        self.x, self.lr, self.m = x, float(lr), history
        self.fine = fine  # works on z, x = x₀ + P·z (precondition.py); 1: on the pixels themselves
        self.max_move = max_move  # the largest change of one value in one step (None: any)
        self.SY: Tensor | None = None  # (2m, n): rows 0..m-1 are s, rows m..2m-1 are y (ring buffer)
        self.order: list[int] = []  # ring slots, oldest first
        self.StY: Tensor | None = None  # (m, m) s_i·y_j by slot
        self.YtY: Tensor | None = None  # (m, m) y_i·y_j by slot
        self._g_prev: Tensor | None = None
        self._step_prev: Tensor | None = None  # the last update t·d

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.x.grad = None

    def step(self, closure: Callable[[], Tensor]) -> Tensor:
        """Evaluate ``closure`` at the current x (its loss is returned), then take one step."""
        with torch.enable_grad():
            loss = closure()
        if self.x.grad is None:
            raise RuntimeError("the closure computed no gradient of x")
        with torch.no_grad():
            g = precondition.apply(self.x.grad.detach().reshape(-1).float(), self.x.shape, self.fine)  # ∇_z J
            pq = None
            if self._g_prev is not None and self._step_prev is not None:
                pq = self._remember(self._step_prev, g - self._g_prev, g)
            t: Tensor | float = self.lr
            if self._g_prev is None:
                # torch.optim.LBFGS's first step: no curvature known yet, so keep it short.
                t = torch.clamp(1.0 / g.abs().sum(), max=1.0) * self.lr
            elif not self.order:
                # Still no pair (each had sᵀy ≤ 0): torch steps lr·g, which on nn's cost at a large β
                # threw the picture far out of range; no pixel moves by more than lr here. (Keeping
                # every step as short as the first instead left Gram paintings 7 % behind after 150.)
                t = torch.clamp(1.0 / g.abs().max(), max=1.0) * self.lr
            d = self._direction(g, pq)
            move = precondition.apply(d, self.x.shape, self.fine)  # the step in x (d itself when fine = 1)
            if self.max_move is not None:  # no value moves further in one step
                t = torch.clamp(self.max_move / (move.abs().max() * t).clamp(min=1e-30), max=1.0) * t
            self.x.add_((move * t).view_as(self.x).to(self.x.dtype))
            self._g_prev, self._step_prev = g.clone(), d * t
        return loss

    def _pairs(self) -> tuple[Tensor, Tensor]:
        """The stored s and y rows, by slot: slots fill 0, 1, … before any is reused, so the
        filled ones are the first ``len(order)`` of each half (views, never copies)."""
        assert self.SY is not None
        k, m = len(self.order), self.m
        return self.SY[:k], self.SY[m : m + k]

    def _remember(self, s: Tensor, y: Tensor, g: Tensor) -> Tensor | None:
        """Add the pair (s, y) unless the curvature sᵀy is not clearly positive (as torch's 1e-10).
        Returns the products of every stored pair with g, by slot (``pq``), worked out in the same
        pass over the pairs as the new row and column of SᵀY and YᵀY; None if none are stored."""
        ys = torch.dot(y, s)
        if not bool(ys > 1e-10):  # the one synchronization of a step
            return None
        n, m = s.numel(), self.m
        if self.SY is None or self.StY is None or self.YtY is None:
            self.SY = torch.empty(2 * m, n, device=s.device)
            self.StY = torch.zeros(m, m, device=s.device)
            self.YtY = torch.zeros(m, m, device=s.device)
        # (3, n) rows, multiplied as its transpose: 2.5x faster on a CPU than a stack into (n, 3),
        # whose strided product and copy took 8.5 + 1.2 ms for 20 pairs at 512 px.
        ysg = torch.stack([y, s, g]).T  # (n, 3)
        S, Y = self._pairs()
        dots = torch.zeros(2 * m, 3, device=s.device)  # rows by slot: s_i·(y, s, g) | y_i·(y, s, g)
        dots[: len(S)] = S @ ysg
        dots[m : m + len(Y)] = Y @ ysg
        slot = self.order.pop(0) if len(self.order) == m else len(self.order)
        self.SY[slot] = s
        self.SY[m + slot] = y
        self.order.append(slot)
        dots[slot], dots[m + slot] = s @ ysg, y @ ysg  # the new pair replaces the oldest's row
        self.StY[:, slot] = dots[:m, 0]
        self.StY[slot, :] = dots[m:, 1]
        self.YtY[:, slot] = dots[m:, 0]
        self.YtY[slot, :] = dots[m:, 0]
        return dots[:, 2]

    def _direction(self, g: Tensor, pq: Tensor | None) -> Tensor:
        """``−H·g`` (``−g`` while no pair is stored). ``pq``: Sᵀg and Yᵀg by slot if ``_remember``
        has them. Only k×k matrices are gathered into time order; the pairs are read in at most
        two products, never copied."""
        if not self.order or self.SY is None or self.StY is None or self.YtY is None:
            return -g  # no pair stored yet
        m = self.m
        S, Y = self._pairs()
        idx = torch.tensor(self.order, device=g.device)
        StY = self.StY[idx][:, idx]  # (k, k): s_i·y_j, oldest first
        YtY = self.YtY[idx][:, idx]
        gamma = StY[-1, -1] / YtY[-1, -1]
        R = torch.triu(StY)
        D = torch.diag(torch.diagonal(StY))
        p, q = (pq[idx], pq[m + idx]) if pq is not None else ((S @ g)[idx], (Y @ g)[idx])
        r = torch.linalg.solve_triangular(R, p.unsqueeze(1), upper=True).squeeze(1)  # R⁻¹Sᵀg
        rhs = (D + gamma * YtY) @ r - gamma * q
        a = torch.linalg.solve_triangular(R.T, rhs.unsqueeze(1), upper=False).squeeze(1)
        coef = torch.zeros(2, len(S), device=g.device)  # by slot
        coef[0, idx] = a
        coef[1, idx] = -gamma * r
        return -(gamma * g + coef[0] @ S + coef[1] @ Y)  # −(γg + S·a − γY·r)
