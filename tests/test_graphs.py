"""CUDA graphs of a scale's objective (graphs.py). Which runs use them is checked everywhere; that a
replay computes what the objective computes needs a GPU: there, ``pytest --noconftest
tests/test_graphs.py`` (this file takes no fixtures from conftest)."""

import pytest
import torch

from brushwork import Config, graphs, stylize
from brushwork.cli import build_parser, config_from_args
from brushwork.data import STARRY_NIGHT, TUBINGEN

CUDA = torch.device("cuda")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize(
    "config, device, tiled, hooked, expected",
    [
        (Config(), CUDA, False, False, True),
        (Config(style_loss="w2"), CUDA, False, False, True),
        (Config(), torch.device("cpu"), False, False, False),
        (Config(cuda_graphs=False), CUDA, False, False, False),
        (Config(style_loss="swd"), CUDA, False, False, False),  # new directions every step
        (Config(style_loss="nn"), CUDA, False, False, False),  # new sample points every step
        (Config(), CUDA, True, False, False),  # tiles: one evaluation is many
        (Config(), CUDA, False, True, False),  # a video frame's temporal cost
    ],
)
def test_which_runs_replay_a_graph(config, device, tiled, hooked, expected):
    assert graphs.wanted(config, device, tiled=tiled, hooked=hooked) is expected


def test_the_flag_turns_graphs_off_and_on():
    parser = build_parser()
    for argv, value in ((["--no-cuda-graphs"], False), (["--cuda-graphs"], True), ([], True)):
        ns = parser.parse_args(["paint", "c.jpg", "s.jpg", "-o", "out.png", *argv])
        assert config_from_args(ns).cuda_graphs is value
    ns = parser.parse_args(["paint", "c.jpg", "s.jpg", "-o", "out.png", "--preset", "preview", "--no-cuda-graphs"])
    assert config_from_args(ns).cuda_graphs is False


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_replay_computes_what_the_objective_does(precision):
    from brushwork.inputs import prepare
    from brushwork.scales import Run

    cfg = Config(size=128, start_size=128, device="cuda", precision=precision)
    run = Run.make(cfg, prepare(TUBINGEN, [STARRY_NIGHT], cfg, None))
    (plan,) = run.plans()
    graphed, c_img = run.objective(plan)
    assert isinstance(graphed, graphs.Graphed)
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):  # the graph is captured at the first call and replayed on new pictures
        x = (c_img + 0.1 * torch.randn(c_img.shape, generator=gen).to(c_img.device)).requires_grad_(True)
        J, terms = graphed.backward(x)
        g = x.grad.clone()
        x.grad = None
        J_ref, terms_ref = graphed.objective.backward(x)
        assert not graphed.eager
        assert J.item() == pytest.approx(J_ref.item(), rel=1e-5)
        assert terms["style"].item() == pytest.approx(terms_ref["style"].item(), rel=1e-5)
        assert torch.allclose(g, x.grad, rtol=1e-4, atol=1e-6 * x.grad.abs().max().item())


@needs_cuda
def test_a_run_with_graphs_paints_as_one_without():
    cfg = Config(
        size=128, start_size=64, iterations=40, coarse_iterations=20, tolerance=0, device="cuda", precision="fp32"
    )
    with_graphs = stylize(TUBINGEN, [STARRY_NIGHT], cfg)
    without = stylize(TUBINGEN, [STARRY_NIGHT], cfg.replace(cuda_graphs=False))
    assert with_graphs.steps == without.steps == 60
    assert with_graphs.losses["total"] == pytest.approx(without.losses["total"], rel=0.02), (
        with_graphs.losses,
        without.losses,
    )
    assert torch.isfinite(with_graphs.image).all()


@needs_cuda
def test_an_objective_that_cannot_be_captured_runs_eagerly():
    class Syncs:  # .item() inside the evaluation: a host sync, which a capture refuses
        def __call__(self, x):
            J = (x**2).sum()
            return J * float(J.item() > 0), {"style": J.detach()}

        def backward(self, x):
            J, terms = self(x)
            J.backward()
            return J.detach(), terms

    x = torch.ones(1, 3, 8, 8, device="cuda", requires_grad=True)
    graphed = graphs.Graphed(Syncs(), x.detach())
    J, _ = graphed.backward(x)
    assert graphed.eager and J.item() == 192.0
    assert torch.equal(x.grad, 2 * x.detach())
