"""Sliced Wasserstein and neural-neighbour costs against values worked out by hand."""

import math

import pytest
import torch

from brushwork import costs
from brushwork import style_costs as sc


def t(rows, dtype=torch.float64):
    return torch.tensor(rows, dtype=dtype)


ONE = t([[1.0]])  # one channel, one direction: the projection is the feature itself


def swd(out, style, w=None, V=ONE, w_S=None):
    S, u_S = sc.sorted_projections(t(style), V, w_S)
    return sc.swd_cost(t(out), V, S, u_S, w).item()


def test_unit_directions_are_unit_and_repeat_with_the_seed():
    V = sc.unit_directions(5, 7, torch.Generator().manual_seed(3))
    assert V.shape == (5, 7)
    torch.testing.assert_close(V.norm(dim=0), torch.ones(7))
    assert torch.equal(V, sc.unit_directions(5, 7, torch.Generator().manual_seed(3)))
    assert not torch.equal(V, sc.unit_directions(5, 7, torch.Generator().manual_seed(4)))


def test_levels_are_midpoints_of_the_cumulative_weight():
    torch.testing.assert_close(sc.levels(t([[1, 1, 1, 1]])), t([[1 / 8, 3 / 8, 5 / 8, 7 / 8]]))
    # Weights 1, 3: the first sample covers [0, 1/4], the second [1/4, 1].
    torch.testing.assert_close(sc.levels(t([[1, 3]])), t([[1 / 8, 5 / 8]]))


def test_quantile_interpolates_between_levels_and_holds_at_the_ends():
    s, u = t([[0, 1, 2, 3]]), t([[1 / 8, 3 / 8, 5 / 8, 7 / 8]])
    # 1/4 lies halfway between 1/8 and 3/8 -> 0.5; beyond the ends the first and last values.
    torch.testing.assert_close(sc.quantile_at(s, u, t([[0.25, 0.75, 0.0, 1.0]])), t([[0.5, 2.5, 0.0, 3.0]]))


def test_swd_of_identical_sets_is_zero_in_any_order():
    assert swd([[3, 0, 2, 1]], [[1, 2, 0, 3]]) == 0


def test_swd_of_a_shifted_set_is_the_shift_squared():
    # Sorted [0, 1, 2] against [1.5, 2.5, 3.5]: every pair differs by 1.5 -> 2.25, on +V or −V alike.
    assert swd([[2, 0, 1]], [[3.5, 1.5, 2.5]]) == pytest.approx(2.25)
    assert swd([[2, 0, 1]], [[3.5, 1.5, 2.5]], V=-ONE) == pytest.approx(2.25)


def test_swd_with_different_counts_compares_quantiles():
    # Style {0, 1, 2, 3} at levels 1/8…7/8; two output samples sit at levels 1/4, 3/4 -> 0.5, 2.5.
    assert swd([[2.5, 0.5]], [[0, 1, 2, 3]]) == pytest.approx(0)
    assert swd([[0, 3]], [[0, 1, 2, 3]]) == pytest.approx((0.5**2 + 0.5**2) / 2)


def test_swd_by_hand_in_two_dimensions():
    # Two channels, direction (1, 0) and (0, 1): each channel is compared on its own.
    out, style, V = [[0, 2], [5, 5]], [[1, 3], [5, 7]], t([[1, 0], [0, 1]])
    # channel 0: [0, 2] vs [1, 3] -> 1 each; channel 1: [5, 5] vs [5, 7] -> 0 and 4. Mean of 4 terms: 6/4.
    assert swd(out, style, V=V) == pytest.approx(1.5)


def test_swd_mask_uses_only_weighted_positions():
    # The 100 outside the mask is ignored; inside, [0, 1] matches the style exactly.
    assert swd([[0, 100, 1]], [[0, 1]], w=t([1, 0, 1])) == pytest.approx(0)
    assert swd([[0, 100, 1]], [[0, 1]]) > 1000


def test_swd_mixture_of_styles_by_weights():
    # Style samples 0 (weight 3) and 4 (weight 1) sit at levels 3/8 and 7/8; four equal output
    # samples at levels 1/8, 3/8, 5/8, 7/8 meet the quantiles 0, 0, 2 (halfway), 4.
    S_w = t([3.0, 1.0])
    assert swd([[0, 0, 2, 4]], [[0, 4]], w_S=S_w) == pytest.approx(0)
    assert swd([[0, 0, 0, 4]], [[0, 4]], w_S=S_w) == pytest.approx(2**2 / 4)
    # Equal weights put the 0 at level 1/4 and the 4 at 3/4: quantiles 0, 1, 3, 4.
    assert swd([[0, 1, 3, 4]], [[0, 4]]) == pytest.approx(0)


def test_swd_gradcheck():
    A = torch.rand(3, 6, dtype=torch.float64, requires_grad=True)
    V = sc.unit_directions(3, 4, torch.Generator().manual_seed(0), torch.float64)
    S, u_S = sc.sorted_projections(torch.rand(3, 9, dtype=torch.float64), V)
    w = t([1, 0.5, 1, 0, 1, 0.25])
    assert torch.autograd.gradcheck(lambda A: sc.swd_cost(A, V, S, u_S, w), (A,))


def test_hypercolumn_weighs_each_layers_cosine_by_lambda():
    f = sc.hypercolumn([t([[3, 4]]), t([[0, 0, 2]])], [0.25, 0.75])
    torch.testing.assert_close(f, t([[0.5 * 0.6, 0.5 * 0.8, 0, 0, 0.75**0.5]]))
    assert f.norm().item() == pytest.approx(1)


def test_nearest_by_cosine_in_a_tiny_set():
    # Style directions: east, north, north-east. (1, 0.9) is 42° from east, 3.0° from north-east.
    S = sc.hypercolumn([t([[1, 0], [0, 1], [1, 1]])], [1.0])
    G = sc.hypercolumn([t([[1, 0.9], [5, 0.1], [0.1, 5]])], [1.0])
    assert sc.nearest(G, S, chunk=2).tolist() == [2, 0, 1]

    # Cost: 1 − cos of each pair, by hand.
    def cos(a, b):
        return (a[0] * b[0] + a[1] * b[1]) / math.hypot(*a) / math.hypot(*b)

    d = [1 - cos((1, 0.9), (1, 1)), 1 - cos((5, 0.1), (1, 0)), 1 - cos((0.1, 5), (0, 1))]
    assert sc.nn_cost(G, S).item() == pytest.approx(sum(d) / 3)
    assert sc.nn_cost(G, S, t([0, 1, 1])).item() == pytest.approx((d[1] + d[2]) / 2)


def test_nn_cost_is_zero_on_the_style_itself_and_gradchecks():
    S = sc.hypercolumn([torch.rand(5, 3, dtype=torch.float64)], [1.0])
    assert sc.nn_cost(S[[4, 0, 2]], S).item() == pytest.approx(0, abs=1e-12)
    a = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: sc.nn_cost(sc.hypercolumn([a], [1.0]), S), (a,))


def test_sample_at_finds_the_same_point_at_every_resolution():
    # A horizontal ramp at 4 and at 8 columns, sampled at the picture's centre and its left quarter.
    fine = torch.arange(8.0).repeat(1, 1, 2, 1)
    coarse = fine.reshape(1, 1, 2, 4, 2).mean(-1)  # 2×2 average pooling along x only
    xy = t([[0.0, 0.0], [-0.5, 0.0]], torch.float32)
    torch.testing.assert_close(sc.sample_at(fine, xy)[:, 0], torch.tensor([3.5, 1.5]))
    torch.testing.assert_close(sc.sample_at(coarse, xy)[:, 0], torch.tensor([3.5, 1.5]))


def test_grid_points_are_cell_centres_of_weighted_cells_and_bounded():
    w = t([[1, 0], [0.5, 1]], torch.float32)
    xy, wp = sc.grid_points(w, 10, torch.Generator().manual_seed(0))
    torch.testing.assert_close(xy, torch.tensor([[-0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]]))
    torch.testing.assert_close(wp, torch.tensor([1, 0.5, 1]))
    big = torch.ones(40, 50)
    xy, wp = sc.grid_points(big, 100, torch.Generator().manual_seed(1))
    assert xy.shape == (100, 2) and len(set(map(tuple, xy.tolist()))) == 100 and (xy.abs() < 1).all()
    assert torch.equal(xy, sc.grid_points(big, 100, torch.Generator().manual_seed(1))[0])


def test_sample_at_is_grid_sample_in_any_dtype_and_layout():
    # Bilinear, align_corners=False, zero outside: torch's grid_sample in float32 is the reference.
    # In bfloat16 torch 2.13's CPU grid_sample read freed memory (NaN after a NaN-filled buffer).
    torch.manual_seed(0)
    a = torch.randn(1, 8, 12, 20)
    xy = torch.rand(300, 2) * 2.2 - 1.1  # some points beyond the border
    ref = torch.nn.functional.grid_sample(a, xy[None, None], align_corners=False)[0, :, 0].T
    torch.testing.assert_close(sc.sample_at(a, xy), ref, rtol=1e-5, atol=1e-5)
    junk = torch.full((1, 64, 384, 512), float("nan"), dtype=torch.bfloat16)
    del junk
    b = a.bfloat16().contiguous(memory_format=torch.channels_last)
    got = sc.sample_at(b, xy)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    torch.testing.assert_close(got, ref, rtol=2e-2, atol=2e-2)


def test_sort_rows_is_torch_sort_with_its_gradient():
    # Large enough to be split among threads; the values carry the gradient back by their order.
    torch.manual_seed(0)
    P = torch.randn(6, 20000, requires_grad=True)
    values, order = sc.sort_rows(P)
    ref = P.detach().sort(dim=-1)
    torch.testing.assert_close(values, ref.values, rtol=0, atol=0)
    assert order is not None and torch.equal(P.detach().gather(-1, order), ref.values)
    (values * torch.arange(20000.0)).sum().backward()
    assert P.grad is not None
    torch.testing.assert_close(P.grad.gather(-1, order), torch.arange(20000.0).expand(6, -1))
    torch.testing.assert_close(sc.sort_rows(P.detach(), values_only=True)[0], ref.values, rtol=0, atol=0)


@pytest.mark.parametrize("N, M", [(5, 3), (3, 5), (4, 4), (7, 1)])
def test_quantile_at_equal_weights_without_search_is_the_general_one(N, M):
    s = torch.randn(3, M).sort(-1).values
    general = sc.quantile_at(s, sc.levels(torch.ones(3, M)), sc.levels(torch.ones(3, N)))
    torch.testing.assert_close(sc.quantile_at(s, None, None, N), general)


def test_moment_cost_by_hand():
    I2, zero = torch.eye(2, dtype=torch.float64), t([0, 0])
    # Only the means differ: μ_Gμ_Gᵀ = [[1, 0], [0, 0]], ‖·‖² = 1, over 4·n_C² = 16.
    assert sc.moment_cost(t([1, 0]), I2, zero, I2).item() == pytest.approx(1 / 16)
    # Only the covariances: Σ_G − Σ_S = [[1, 0], [0, 0]].
    assert sc.moment_cost(zero, t([[2, 0], [0, 1]]), zero, I2).item() == pytest.approx(1 / 16)
    # Both: μμᵀ = [[1, 1], [1, 1]] (4) and Σ_G − Σ_S = [[0, 1], [1, 0]] (2): 6/16.
    assert sc.moment_cost(t([1, 1]), t([[1, 1], [1, 1]]), zero, I2).item() == pytest.approx(6 / 16)
    assert sc.moment_cost(t([1, 1]), I2, t([1, 1]), I2).item() == 0


def test_moment_cost_is_the_gram_cost_when_one_moment_agrees_and_gradchecks():
    torch.manual_seed(0)
    a_S, a_G = torch.rand(1, 3, 4, 5, dtype=torch.float64), torch.rand(1, 3, 4, 5, dtype=torch.float64)
    (mu_S, Sigma_S), (_, Sigma_G) = costs.mean_cov(a_S), costs.mean_cov(a_G)
    # Same means: the per-position Grams G/N = Σ + μμᵀ differ by Σ_G − Σ_S alone.
    gram = costs.gram_cost(Sigma_S + torch.outer(mu_S, mu_S), Sigma_G + torch.outer(mu_S, mu_S), 3, 1)
    assert sc.moment_cost(mu_S, Sigma_G, mu_S, Sigma_S).item() == pytest.approx(gram.item())
    a = a_G.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a: sc.moment_cost(*costs.mean_cov(a), mu_S, Sigma_S), (a,))


def test_mixture_moments_are_those_of_the_pooled_samples():
    # {0} with weight 3/4 and {2} with weight 1/4: mean 1/2, E[x²] = 1, variance 1 − 1/4.
    mu, Sigma = sc.mixture_moments([(t([0]), t([[0]])), (t([2]), t([[0]]))], [0.75, 0.25])
    assert (mu.item(), Sigma.item()) == (0.5, 0.75)
    # Two sets of 2-D samples, weighted by their counts: the moments of the pooled set.
    torch.manual_seed(1)
    A, B = torch.rand(1, 2, 1, 3, dtype=torch.float64), torch.rand(1, 2, 1, 6, dtype=torch.float64)
    mu, Sigma = sc.mixture_moments([costs.mean_cov(A), costs.mean_cov(B)], [1 / 3, 2 / 3])
    mu_AB, Sigma_AB = costs.mean_cov(torch.cat([A, B], -1))
    torch.testing.assert_close((mu, Sigma), (mu_AB, Sigma_AB))


def test_palette_cost_compares_colour_distributions_whatever_the_places():
    red_blue = t([[[[1, 0]], [[0, 0]], [[0, 1]]]])  # (1, 3, 1, 2): a red and a blue pixel
    V = torch.eye(3, dtype=torch.float64)  # each channel on its own

    def palette(x, painting, w=None):
        S, u_S = sc.sorted_projections(painting, V)
        return sc.palette_cost(x, V, S, u_S, w).item()

    assert palette(red_blue, t([[0, 1], [0, 0], [1, 0]])) == 0  # the same two colours, swapped
    # Every level 0.1 higher in the painting: each of the 3 × 2 sorted pairs differs by 0.1.
    assert palette(red_blue, t([[0.1, 1.1], [0.1, 0.1], [1.1, 0.1]])) == pytest.approx(0.01)
    # A masked-out pixel takes no part: the red one alone against a red painting.
    assert palette(red_blue, t([[1], [0], [0]]), w=t([1, 0])) == 0


def test_nearest_in_bfloat16_finds_the_same_neighbours_where_they_are_clear():
    torch.manual_seed(0)
    S = sc.hypercolumn([torch.randn(50, 8)], [1.0])
    G = sc.hypercolumn([S[torch.arange(49, -1, -1)] + 0.01 * torch.randn(50, 8)], [1.0])
    assert sc.nearest(G, S, dtype=torch.bfloat16).tolist() == list(range(49, -1, -1))


def test_gram_unit_is_the_ratio_of_the_two_costs_within_its_bounds():
    assert sc.gram_unit(6.0, 2.0) == 3.0
    assert sc.gram_unit(1.0, 4.0) == 0.25
    assert sc.gram_unit(1e6, 1.0) == 100.0
    assert sc.gram_unit(1.0, 1e6) == 0.01
    assert sc.gram_unit(8.0, 1.0, gamma=2 / 3) == pytest.approx(4.0)  # part of the ratio: its power
    assert sc.gram_unit(1e9, 1.0, gamma=0.5) == pytest.approx(10.0)  # bounded before the power
    # A photo with the painting's statistics already, or a cost that is not a number: its own scale.
    for J_gram, J_own in [(0.0, 1.0), (1.0, 0.0), (math.nan, 1.0), (1.0, math.inf), (-1.0, 2.0)]:
        assert sc.gram_unit(J_gram, J_own) == 1.0
