import pytest
import torch

from brushwork.layers import CONV_LAYERS, LAYERS, UnknownLayerError, check_layer, downsampling
from brushwork.vgg import VGG19Features
from brushwork.weights import load_weights


@pytest.fixture(scope="module")
def weights():
    return load_weights()


def test_layer_names():
    assert len(LAYERS) == 37 and len(CONV_LAYERS) == 16
    assert LAYERS[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYERS[-3:] == ("conv5_4", "relu5_4", "pool5")
    assert "relu4_2" in LAYERS and "conv3_4" in LAYERS and "conv2_3" not in LAYERS


def test_unknown_layer_suggests_closest():
    with pytest.raises(UnknownLayerError, match="did you mean relu4_2"):
        check_layer("relu4_22")
    with pytest.raises(UnknownLayerError, match="conv"):
        check_layer("banana")


def test_shapes_of_every_layer(weights):
    net = VGG19Features(weights, last="pool5", normalize=False)
    out = net(torch.rand(1, 3, 64, 96), LAYERS)
    assert list(out) == list(LAYERS)
    assert out["relu1_1"].shape == (1, 64, 64, 96)
    assert out["pool1"].shape == (1, 64, 32, 48)
    assert out["relu3_4"].shape == (1, 256, 16, 24)
    assert out["relu4_2"].shape == (1, 512, 8, 12)
    assert out["relu5_1"].shape == (1, 512, 4, 6)
    assert out["pool5"].shape == (1, 512, 2, 3)
    assert [downsampling(n) for n in ("relu1_1", "pool1", "relu4_2", "relu5_1")] == [0, 1, 3, 4]


def test_cut_after_deepest_layer_frozen_eval(weights):
    net = VGG19Features(weights, last="relu4_2")
    assert net.names[-1] == "relu4_2"
    assert "conv4_3" not in net.convs and "conv5_1" not in net.convs
    assert not net.training
    assert all(not p.requires_grad for p in net.parameters())
    with pytest.raises(ValueError, match="beyond"):
        net(torch.rand(1, 3, 32, 32), ["relu5_1"])


def test_returns_only_requested_and_conv_output_intact(weights):
    net = VGG19Features(weights, last="relu1_1", normalize=False)
    out = net(torch.rand(1, 3, 16, 16), ["conv1_1", "relu1_1"])
    assert set(out) == {"conv1_1", "relu1_1"}
    # The in-place ReLU must not have overwritten the requested conv output.
    assert (out["conv1_1"] < 0).any()
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].clamp(min=0))


def test_pooling_choice(weights):
    x = torch.rand(1, 3, 32, 32)
    mx = VGG19Features(weights, last="pool1", pooling="max", normalize=False)(x, ["pool1"])["pool1"]
    av = VGG19Features(weights, last="pool1", pooling="avg", normalize=False)(x, ["pool1"])["pool1"]
    assert (mx >= av - 1e-4).all() and not torch.allclose(mx, av)
    with pytest.raises(ValueError, match="pooling"):
        VGG19Features(weights, pooling="median")


def test_normalization_brings_layers_to_unit_mean(weights, tubingen):
    from brushwork import images

    net = VGG19Features(weights, last="relu5_1")
    raw = VGG19Features(weights, last="relu5_1", normalize=False)
    img = images.resize(images.load(tubingen), (192, 256))
    layers = ["relu1_1", "relu3_1", "relu4_1", "relu5_1"]
    with torch.no_grad():
        norm, plain = net(img, layers), raw(img, layers)
    means = {l: norm[l].mean().item() for l in layers}
    assert all(0.5 < m < 2 for m in means.values()), means
    raw_means = [plain[l].mean().item() for l in layers]
    assert max(raw_means) / min(raw_means) > 5  # the imbalance the normalization removes
    # Only a per-layer scale: the normalized activation is proportional to the raw one.
    ratio = norm["relu3_1"].sum() / plain["relu3_1"].sum()
    torch.testing.assert_close(norm["relu3_1"], plain["relu3_1"] * ratio)
