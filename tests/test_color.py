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
    content = torch.rand(1, 3, 6, 6) * 0.5 + 0.25
    generated = torch.rand(1, 3, 6, 6) * 0.5 + 0.25
    out = keep_colors(content, generated)
    y_out, y_gen = rgb_to_yiq(out)[:, 0], rgb_to_yiq(generated)[:, 0]
    torch.testing.assert_close(y_out, y_gen, atol=1e-4, rtol=0)
    torch.testing.assert_close(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:], atol=1e-4, rtol=0)
    assert out.min() >= 0 and out.max() <= 1
