import pytest
import torch

from brushwork.color import keep_colors, rgb_to_yiq, yiq_to_rgb


def test_yiq_round_trip_and_known_values():
    x = torch.rand(1, 3, 5, 7)
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-5, rtol=1e-5)
    white = torch.ones(1, 3, 1, 1)
    torch.testing.assert_close(rgb_to_yiq(white).flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=1e-4, rtol=0)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert rgb_to_yiq(red)[0, 0].item() == torch.tensor(0.299).item()


def test_keep_colors_takes_luminance_from_generated_and_chroma_from_content():
    # Mid-grey colours: the mix of one's luminance and the other's chroma stays inside the RGB cube,
    # so nothing is clamped and both halves must match exactly (wider ranges leave the gamut).
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 6, 6, generator=g) * 0.2 + 0.4
    generated = torch.rand(1, 3, 6, 6, generator=g) * 0.2 + 0.4
    out = keep_colors(content, generated)
    y_out, y_gen = rgb_to_yiq(out)[:, 0], rgb_to_yiq(generated)[:, 0]
    torch.testing.assert_close(y_out, y_gen, atol=1e-4, rtol=0)
    torch.testing.assert_close(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:], atol=1e-4, rtol=0)
    assert out.min() >= 0 and out.max() <= 1


def test_match_colors_moves_style_to_content_statistics():
    from brushwork.color import match_colors

    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 32, 32, generator=g) * 0.3 + 0.2
    style = torch.rand(1, 3, 32, 32, generator=g) * 0.2 + torch.tensor([0.7, 0.1, 0.1]).view(1, 3, 1, 1)
    out = match_colors(style, content)
    torch.testing.assert_close(out.mean(dim=(2, 3)), content.mean(dim=(2, 3)), atol=0.01, rtol=0)

    def cov(x):
        return torch.cov(x[0].reshape(3, -1))

    torch.testing.assert_close(cov(out), cov(content), atol=2e-3, rtol=0)


def test_luminance_helpers():
    from brushwork.color import luminance, match_luminance

    img = torch.rand(1, 3, 8, 8)
    y = luminance(img)
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 1], y[:, 2])
    content = torch.rand(1, 3, 8, 8) * 0.2 + 0.4
    m = match_luminance(torch.rand(1, 3, 8, 8), content)
    assert abs(m[:, 0].mean() - luminance(content)[:, 0].mean()) < 0.01


@pytest.mark.full_network
def test_color_modes_end_to_end(tubingen, starry):
    from brushwork import Config, images, stylize

    content = images.resize(images.load(tubingen), (48, 64))
    for mode in ("luminance", "keep"):
        out = stylize(tubingen, [starry], Config(size=64, iterations=15, device="cpu", color=mode)).image
        iq_out, iq_c = rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:]
        assert (iq_out - iq_c).abs().mean() < 0.02, mode
    styled = stylize(tubingen, [starry], Config(size=64, iterations=15, device="cpu")).image
    assert (rgb_to_yiq(styled)[:, 1:] - rgb_to_yiq(content)[:, 1:]).abs().mean() > 0.03
