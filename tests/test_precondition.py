import math

import torch

from brushwork import precondition
from brushwork.lbfgs import LBFGS


def wave(period_x: float, h: int = 32, w: int = 64) -> torch.Tensor:
    """A (1, 3, h, w) cosine along the width with the given period in pixels."""
    x = torch.arange(w, dtype=torch.float64)
    return torch.cos(2 * math.pi * x / period_x).expand(1, 3, h, w).float().contiguous()


def P(v: torch.Tensor, fine: float) -> torch.Tensor:
    return precondition.apply(v.reshape(-1), v.shape, fine).view(v.shape)


def test_long_periods_pass_untouched_and_the_finest_are_scaled_by_fine():
    assert torch.allclose(P(torch.full((1, 3, 32, 64), 0.7), 0.35), torch.tensor(0.7), atol=1e-6)  # the mean
    for period in (64, 32):  # at or above COARSE_PERIOD
        assert torch.allclose(P(wave(period), 0.35), wave(period), atol=1e-5)
    for period in (8, 4, 2):  # at or below FINE_PERIOD
        assert torch.allclose(P(wave(period), 0.35), 0.35 * wave(period), atol=1e-5)
    checkerboard = (torch.arange(32)[:, None] + torch.arange(64)[None, :]) % 2 * 2.0 - 1
    board = checkerboard.expand(1, 3, 32, 64).contiguous()
    assert torch.allclose(P(board, 0.5), 0.5 * board, atol=1e-5)


def test_between_the_two_periods_the_gain_goes_log_linearly():
    # 16 px: t = log(32/16) / log(32/8) = 1/2, so the gain is fine^(1/2) = 0.6.
    assert torch.allclose(P(wave(16), 0.36), 0.6 * wave(16), atol=1e-5)


def test_the_filter_is_symmetric_and_one_is_the_identity():
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(1, 3, 20, 30, generator=g), torch.randn(1, 3, 20, 30, generator=g)
    assert math.isclose((P(u, 0.3) * v).sum().item(), (u * P(v, 0.3)).sum().item(), rel_tol=1e-5)
    flat = u.reshape(-1)
    assert precondition.apply(flat, u.shape, 1.0) is flat


def test_lbfgs_on_the_filtered_variables_reaches_the_same_minimum():
    g = torch.Generator().manual_seed(1)
    target, weights = torch.rand(1, 3, 24, 32, generator=g), torch.rand(1, 3, 24, 32, generator=g) + 0.5

    def minimize(fine: float) -> torch.Tensor:
        x = torch.zeros(1, 3, 24, 32, requires_grad=True)
        opt = LBFGS(x, history=10, fine=fine)

        def closure():
            x.grad = None
            J = (weights * (x - target) ** 2).sum()
            J.backward()
            return J

        for _ in range(60):
            opt.step(closure)
        return x.detach()

    ends = {fine: minimize(fine) for fine in (1.0, 0.35)}
    assert torch.allclose(ends[1.0], target, atol=1e-4) and torch.allclose(ends[0.35], target, atol=1e-4)
