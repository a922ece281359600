import pytest
import torch

from brushwork.lbfgs import LBFGS


def _problem(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    Q = A @ A.T / n + 0.1 * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, generator=g, dtype=torch.float64)
    return lambda x: 0.5 * x @ Q @ x - b @ x + 0.1 * (x**4).sum()


def _run(opt, x, f, steps):
    losses = []
    for _ in range(steps):

        def closure():
            opt.zero_grad()
            J = f(x.double()).float()
            J.backward()
            return J

        losses.append(float(opt.step(closure).detach()))
    return losses


@pytest.mark.parametrize("history", [3, 100])
def test_iterates_match_torch_lbfgs(history):
    """The compact form computes the same inverse-Hessian product as torch's two-loop recursion,
    also once the ring buffer has wrapped (history 3 over 30 steps)."""
    f = _problem()
    x1 = torch.zeros(40, requires_grad=True)
    x2 = torch.zeros(40, requires_grad=True)
    ref = torch.optim.LBFGS([x1], lr=1, max_iter=1, history_size=history, tolerance_grad=-1, tolerance_change=-1)
    l1 = _run(ref, x1, f, 30)
    l2 = _run(LBFGS(x2, lr=1, history=history), x2, f, 30)
    assert l2 == pytest.approx(l1, rel=1e-4, abs=1e-5)
    assert torch.allclose(x1, x2, atol=1e-4)
    assert l2[-1] < l2[0] - 10  # and it does minimize


def test_pairs_without_positive_curvature_are_skipped():
    """On a concave direction sᵀy < 0: the pair is not stored and the step stays finite."""
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    opt = LBFGS(x, lr=0.1, history=5)
    for _ in range(4):

        def closure():
            opt.zero_grad()
            J = -(x**2).sum()
            J.backward()
            return J

        opt.step(closure)
    assert opt.order == [] and torch.isfinite(x).all()


def test_bad_history():
    with pytest.raises(ValueError, match="history"):
        LBFGS(torch.zeros(2, requires_grad=True), history=0)


def test_while_no_curvature_is_known_no_pixel_moves_more_than_lr():
    """A cost concave where it starts stores no pair. torch.optim.LBFGS steps lr·g from the second
    step on (2·10⁶·x here; nn's style cost at a large β did that to a picture); here the first step is
    min(1, 1/‖g‖₁)·lr·g and, while no pair is stored, later ones min(1, 1/max|g|)·lr·g, so no
    coordinate moves by more than lr whatever the cost's scale."""
    ends = []
    for scale in (1.0, 1e6):
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        opt = LBFGS(x, lr=1, history=5)
        _run(opt, x, lambda v, s=scale: -s * (v**2).sum(), 3)
        assert opt.order == []
        ends.append(x.detach().clone())
    # g = −2s·x. Step 1: x/‖x‖₁ -> [4/3, 8/3]; then x/max|x| twice -> [1.8333, 3.6667] -> [2.3333, 4.6667].
    assert torch.allclose(ends[0], ends[1]) and torch.allclose(ends[1], torch.tensor([7 / 3, 14 / 3]))


def test_max_move_bounds_every_step_and_still_descends():
    f = _problem()
    x = torch.zeros(40, requires_grad=True)
    opt = LBFGS(x, lr=1, history=5, max_move=0.05)
    free = torch.zeros(40, requires_grad=True)
    _run(LBFGS(free, lr=1, history=5), free, f, 3)
    assert (free.detach()).abs().max() > 0.05 * 3  # unbounded, the first steps move further
    moves, losses = [], []
    for _ in range(30):
        before = x.detach().clone()
        losses += _run(opt, x, f, 1)
        moves.append((x.detach() - before).abs().max().item())
    assert max(moves) <= 0.05 + 1e-6 and losses[-1] < losses[0]
