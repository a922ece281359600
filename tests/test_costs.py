"""The costs against values worked out by hand on tiny tensors, plus their invariants."""

import pytest
import torch

from brushwork import costs, images
from brushwork.vgg import VGG19Features
from brushwork.weights import load_weights


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_content_cost_by_hand():
    # n_C=2, n_H=1, n_W=2. Differences 1, 0, 0, -2 -> Σ = 5; 5 / (4·1·2·2) = 0.3125.
    a_C = t([[[[1, 2]], [[3, 4]]]])
    a_G = t([[[[0, 2]], [[3, 6]]]])
    assert costs.content_cost(a_C, a_G).item() == pytest.approx(0.3125)
    assert costs.content_cost(a_C, a_C).item() == 0


def test_content_cost_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        costs.content_cost(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 3))


def test_gram_matrix_by_hand():
    A = t([[1, 2, 3], [4, 5, 6]])
    # Rows dotted: 1+4+9=14, 4+10+18=32, 16+25+36=77.
    assert torch.equal(costs.gram_matrix(A), t([[14, 32], [32, 77]]))


def test_unroll_shapes():
    a = torch.arange(24.0).reshape(1, 2, 3, 4)
    A = costs.unroll(a)
    assert A.shape == (1, 2, 12)
    assert torch.equal(A[0, 1], torch.arange(12.0, 24.0))


def test_layer_style_cost_by_hand():
    # a_G unrolls to A = [[1, 2], [3, 4]] -> G_G = [[5, 11], [11, 25]].
    a_G = t([[[[1, 2]], [[3, 4]]]])
    G_S = t([[6, 11], [11, 23]])
    # G_S − G_G = [[1, 0], [0, −2]] -> Σ = 5; 4·n_C²·(n_H·n_W)² = 4·4·4 = 64.
    assert costs.layer_style_cost(G_S, a_G).item() == pytest.approx(5 / 64)


def test_layer_style_cost_zero_on_own_gram():
    a = torch.rand(1, 3, 4, 5)
    G = costs.gram_matrix(costs.unroll(a))
    assert costs.layer_style_cost(G, a).item() == pytest.approx(0, abs=1e-10)


def test_layer_style_cost_rejects_wrong_channels():
    with pytest.raises(ValueError, match="channels"):
        costs.layer_style_cost(torch.zeros(3, 3), torch.zeros(1, 2, 2, 2))


def test_style_cost_normalizes_lambdas():
    J = {"a": t(1.0), "b": t(3.0)}
    # λ = (1, 3) / 4 -> 0.25·1 + 0.75·3 = 2.5; scaling all λ changes nothing.
    assert costs.style_cost(J, {"a": 1, "b": 3}).item() == pytest.approx(2.5)
    assert costs.style_cost(J, {"a": 10, "b": 30}).item() == pytest.approx(2.5)


def test_style_cost_errors():
    with pytest.raises(ValueError, match="different layers"):
        costs.style_cost({"a": t(1.0)}, {"b": 1.0})
    with pytest.raises(ValueError, match="positive sum"):
        costs.style_cost({"a": t(1.0)}, {"a": 0.0})


def test_total_cost_by_hand():
    assert costs.total_cost(t(2.0), t(3.0), alpha=10, beta=40).item() == pytest.approx(140)


def test_tv_cost_by_hand():
    G = t([[[[0, 1], [2, 4]]]])
    # Vertical: (2−0)² + (4−1)² = 13; horizontal: (1−0)² + (4−2)² = 5; / (1·2·2) = 4.5.
    assert costs.tv_cost(G).item() == pytest.approx(4.5)
    assert costs.tv_cost(torch.full((1, 3, 5, 5), 0.3)).item() == 0


def test_accumulates_in_float32_for_bfloat16():
    a = torch.rand(1, 8, 16, 16)
    b = a.bfloat16()
    G = costs.gram_matrix(costs.unroll(b))
    assert G.dtype == torch.float32
    # The float32 arithmetic on the bf16-rounded values, up to one bf16 rounding of the sum.
    ref = costs.gram_matrix(costs.unroll(b.float()))
    torch.testing.assert_close(G, ref, rtol=2**-8, atol=0)
    assert costs.content_cost(b, b.flip(-1)).dtype == torch.float32
    assert costs.layer_style_cost(G, b).dtype == torch.float32
    assert costs.tv_cost(b).dtype == torch.float32


def test_gram_gradcheck():
    A = torch.rand(3, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(costs.gram_matrix, (A,))


def test_layer_style_cost_gradcheck():
    a_G = torch.rand(1, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    G_S = torch.rand(3, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: costs.layer_style_cost(G_S, a), (a_G,))


def test_style_target_rescales_to_generated_positions():
    a = torch.rand(1, 4, 3, 5)
    tiled = a.repeat(1, 1, 2, 2)  # same statistics, 4× the positions
    G_own = costs.gram_matrix(costs.unroll(a))
    torch.testing.assert_close(costs.style_target(tiled, 3, 5), G_own)
    torch.testing.assert_close(costs.style_target(a, 3, 5), G_own)


@pytest.fixture(scope="module")
def net():
    return VGG19Features(load_weights(), last="relu5_1")


def _features(net, path, size):
    img = images.load(path)
    img = images.resize(img, images.fit(size, *img.shape[-2:]))
    with torch.no_grad():
        return net(img, ["relu1_1", "relu3_1", "relu4_2", "relu5_1"])


def test_costs_are_size_invariant(net, tubingen, starry):
    """The normalization makes the same pictures at two sizes cost nearly the same, where the
    unnormalized sums grow with the number of positions (4× content, 16× style per doubling)."""
    values = []
    for size in (384, 512):
        c, s = _features(net, tubingen, size), _features(net, starry, size)
        style, raw = {}, {}
        for layer in ("relu1_1", "relu3_1", "relu5_1"):
            n_C, n_H, n_W = c[layer].shape[-3:]
            J = costs.layer_style_cost(costs.style_target(s[layer], n_H, n_W), c[layer]).item()
            style[layer], raw[layer] = J, J * 4 * n_C**2 * (n_H * n_W) ** 2
        hw = tuple(c["relu1_1"].shape[-2:])
        with torch.no_grad():
            a_S = net(images.resize(images.load(starry), hw), ["relu4_2"])["relu4_2"]
        values.append((costs.content_cost(c["relu4_2"], a_S).item(), style, raw))
    (c1, s1, r1), (c2, s2, r2) = values
    assert c2 == pytest.approx(c1, rel=0.1)
    for layer in s1:
        assert 1 / 1.6 < s2[layer] / s1[layer] < 1.6, layer
        assert r2[layer] / r1[layer] > 2, layer  # (512/384)⁴ ≈ 3.2: what the normalization takes out


def test_unroll_of_channels_last_is_a_view_with_the_same_values():
    a = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    cl = a.contiguous(memory_format=torch.channels_last)
    A = costs.unroll(cl)
    assert A.data_ptr() == cl.data_ptr()  # no copy
    assert torch.equal(A, costs.unroll(a)) and A.shape == (2, 3, 20)


def test_gram_gradient_in_channels_last_layout():
    a = torch.randn(1, 4, 3, 5, dtype=torch.float64).contiguous(memory_format=torch.channels_last).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: costs.gram_matrix(costs.unroll(t)), (a,))


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_gram_of_bfloat16_adds_its_blocks_in_float32(layout):
    # 64×65 positions: eight blocks of GRAM_BLOCK and a remainder of 64; batch of two pictures.
    a = torch.rand(2, 16, 64, 65)
    b = a.bfloat16().contiguous(memory_format=layout)
    G = costs.gram_matrix(costs.unroll(b))
    ref = costs.gram_matrix(costs.unroll(b.double()))
    assert G.dtype == torch.float32 and G.shape == (2, 16, 16)
    # Each block's sum is rounded once to bf16 (2⁻⁹ relative); the blocks' errors partly cancel.
    torch.testing.assert_close(G.double(), ref, rtol=2**-8, atol=0)
    assert ((G.double() - ref).norm() / ref.norm()).item() < 1e-3


def test_gram_gradient_of_bfloat16_is_bfloat16_in_its_layout():
    a = torch.rand(1, 16, 40, 30).bfloat16().contiguous(memory_format=torch.channels_last).requires_grad_()
    a64 = a.detach().double().requires_grad_()
    W = torch.randn(16, 16, dtype=torch.float64)
    (costs.gram_matrix(costs.unroll(a)) * W.float()).sum().backward()
    (costs.gram_matrix(costs.unroll(a64)) * W).sum().backward()
    assert a.grad is not None and a64.grad is not None
    assert a.grad.dtype == torch.bfloat16 and a.grad.is_contiguous(memory_format=torch.channels_last)
    # ∂/∂A Σ W∘(A·Aᵀ) = (W + Wᵀ)·A, by hand in float64. bf16 (unit roundoff u = 2⁻⁸) rounds the factor
    # and the result, so each entry is within 2u·(|W + Wᵀ|·|A|) of it. (A fixed 0.02 failed 24 of 300 seeds.)
    A = costs.unroll(a64.detach())[0]
    by_hand = ((W + W.T) @ A).reshape(1, 16, 40, 30)
    bound = (2 * 2**-8 * ((W + W.T).abs() @ A.abs())).reshape(1, 16, 40, 30)
    assert ((a.grad.double() - by_hand).abs() <= bound).all()
    torch.testing.assert_close(a64.grad, by_hand)
