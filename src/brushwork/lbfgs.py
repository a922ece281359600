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
jcjohnson/neural-style runs it): the first step is scaled by min(1, 1/‖g‖₁)·lr, then lr.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class LBFGS:
    """Minimizes over one tensor ``x`` (its ``.grad`` filled by the closure). ``history``: pairs
    kept (the memory is ``2·history·x.numel()`` floats, allocated as pairs arrive)."""

    def __init__(self, x: Tensor, lr: float = 1.0, history: int = 100):
        if history < 1:
            raise ValueError(f"history must be at least 1, not {history}")
        self.x, self.lr, self.m = x, float(lr), history
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
            g = self.x.grad.detach().reshape(-1).float()
            t: Tensor | float = self.lr
            if self._g_prev is None or self._step_prev is None:
                # torch.optim.LBFGS's first step: no curvature known yet, so keep it short.
                t = torch.clamp(1.0 / g.abs().sum(), max=1.0) * self.lr
            else:
                self._remember(self._step_prev, g - self._g_prev)
            d = self._direction(g)
            update = d * t
            self.x.add_(update.view_as(self.x).to(self.x.dtype))
            self._g_prev, self._step_prev = g.clone(), update
        return loss

    def _remember(self, s: Tensor, y: Tensor) -> None:
        """Add the pair (s, y) unless the curvature sᵀy is not clearly positive (as torch's 1e-10)."""
        ys = torch.dot(y, s)
        if not bool(ys > 1e-10):  # the one synchronization of a step
            return
        n = s.numel()
        if self.SY is None or self.StY is None or self.YtY is None:
            self.SY = torch.zeros(2 * self.m, n, device=s.device)
            self.StY = torch.zeros(self.m, self.m, device=s.device)
            self.YtY = torch.zeros(self.m, self.m, device=s.device)
        slot = self.order.pop(0) if len(self.order) == self.m else len(self.order)
        self.SY[slot] = s
        self.SY[self.m + slot] = y
        self.order.append(slot)
        # The new row and column of SᵀY and YᵀY in one pass over the buffer (stale slots are
        # never read).
        prod = self.SY @ torch.stack([y, s], 1)  # (2m, 2): s_i·y, y_i·y | s_i·s, y_i·s
        self.StY[:, slot] = prod[: self.m, 0]
        self.StY[slot, :] = prod[self.m :, 1]
        self.YtY[:, slot] = prod[self.m :, 0]
        self.YtY[slot, :] = prod[self.m :, 0]

    def _direction(self, g: Tensor) -> Tensor:
        """``−H·g`` (``−g`` while no pair is stored). Only k×k matrices are gathered into time
        order; the (2m, n) buffer is read in two products, never copied."""
        if not self.order or self.SY is None or self.StY is None or self.YtY is None:
            return -g  # no pair stored yet
        m = self.m
        idx = torch.tensor(self.order, device=g.device)
        StY = self.StY[idx][:, idx]  # (k, k): s_i·y_j, oldest first
        YtY = self.YtY[idx][:, idx]
        gamma = StY[-1, -1] / YtY[-1, -1]
        R = torch.triu(StY)
        D = torch.diag(torch.diagonal(StY))
        pq = self.SY @ g  # Sᵀg and Yᵀg, by slot
        p, q = pq[idx], pq[m + idx]
        r = torch.linalg.solve_triangular(R, p.unsqueeze(1), upper=True).squeeze(1)  # R⁻¹Sᵀg
        rhs = (D + gamma * YtY) @ r - gamma * q
        a = torch.linalg.solve_triangular(R.T, rhs.unsqueeze(1), upper=False).squeeze(1)
        coef = torch.zeros(2 * m, device=g.device)
        coef[idx] = a
        coef[m + idx] = -gamma * r
        return -(gamma * g + coef @ self.SY)  # −(γg + S·a − γY·r)
