"""The quality benchmark's distribution measures, against values worked out by hand."""

import pytest
import torch

from brushwork import quality


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_wasserstein_of_sorted_samples_by_hand():
    # [0, 1, 2] against [1, 2, 3] in any order: each sample moves by 1.
    assert quality.wasserstein(t([[2, 0, 1]]), t([[3, 1, 2]]), p=1).item() == pytest.approx(1)
    assert quality.wasserstein(t([[2, 0, 1]]), t([[3, 1, 2]]), p=2).item() == pytest.approx(1)
    # Different counts: {0, 1, 2, 3} has quantiles 0.5 and 2.5 at levels 1/4 and 3/4.
    assert quality.wasserstein(t([[0.5, 2.5]]), t([[0, 1, 2, 3]])).item() == pytest.approx(0)
    assert quality.wasserstein(t([[0, 3]]), t([[0, 1, 2, 3]]), p=1).item() == pytest.approx(0.5)


def test_sliced_dist_is_relative_to_the_styles_spread():
    # One channel: the style [-1, 1] has variance 1; the output shifted by 2 -> SW₂² = 4 -> √(4/1).
    assert quality.sliced_dist(t([[1, 3]]), t([[-1, 1]]), t([[1]])) == pytest.approx(2)
    # Scaling both by 10 changes nothing: the measure is relative.
    assert quality.sliced_dist(t([[10, 30]]), t([[-10, 10]]), t([[1]])) == pytest.approx(2)
    assert quality.sliced_dist(t([[1, -1]]), t([[-1, 1]]), t([[1]])) == 0


def test_color_dist_of_constant_pictures_is_their_level_difference():
    out = torch.empty(1, 3, 8, 12)
    out[:, 0], out[:, 1], out[:, 2] = 100 / 255, 50 / 255, 0
    style = torch.empty(1, 3, 16, 24)  # another size: resized to the output's, still constant
    style[:, 0], style[:, 1], style[:, 2] = 130 / 255, 50 / 255, 60 / 255
    # |100 − 130| + 0 + |0 − 60| over three channels = 30.
    assert quality.color_dist(out, style) == pytest.approx(30, abs=1e-3)
    assert quality.color_dist(style, style) == pytest.approx(0, abs=1e-4)


def test_color_dist_of_a_permuted_picture_is_zero():
    img = torch.rand(1, 3, 16, 16)
    shuffled = img.flatten(2)[..., torch.randperm(256)].reshape(1, 3, 16, 16)
    assert quality.color_dist(shuffled, img) == pytest.approx(0, abs=1e-3)


def test_swd_dist_is_zero_on_the_style_and_grows_with_change():
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 48, 48, generator=gen)
    assert quality.swd_dist(img, img) == pytest.approx(0, abs=1e-3)
    assert quality.swd_dist(torch.full_like(img, 0.5), img) > quality.swd_dist(img.flip(-1), img)
