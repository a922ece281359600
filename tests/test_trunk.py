"""The fused CPU node (trunk.Trunk) gives autograd's activations and gradients."""

import pytest
import torch

from brushwork import trunk
from brushwork.vgg import VGG19Features
from brushwork.weights import load_weights

pytestmark = pytest.mark.skipif(not trunk.available(torch.zeros(1, dtype=torch.bfloat16)), reason="needs oneDNN")


@pytest.fixture(scope="module")
def net():
    return VGG19Features(load_weights(None, "auto"), last="relu4_2")


def _by_autograd(net, x, layers):
    """The layer-by-layer path (what runs on a GPU), with the same preprocessing and scales."""
    h = net.preprocess(x)
    if net.channels_last:
        h = h.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=net.dtype, enabled=net.dtype != torch.float32):
        deepest = max(net.names.index(n) for n in layers)
        return net._layers(h, set(layers), deepest)


# relu1_2 sits before a pool (masked at full size when asked for), pool2 is asked for itself,
# relu3_4 before pool3 is not asked for (masked on the pooled values), relu4_2 ends the net.
LAYERS = ["relu1_1", "relu1_2", "pool2", "relu3_1", "relu4_2"]


@pytest.mark.parametrize("dtype, pooling", [(torch.bfloat16, "max"), (torch.bfloat16, "avg")])
def test_trunk_matches_autograd(net, dtype, pooling):
    net.pooling = pooling
    net.set_precision(dtype, channels_last=dtype != torch.float32)
    try:
        torch.manual_seed(0)
        x = torch.rand(1, 3, 48, 64)
        grads = None
        results = []
        for run in (net.forward, lambda x, layers: _by_autograd(net, x, layers)):
            xg = x.clone().requires_grad_()
            acts = run(xg, LAYERS)
            assert set(acts) == set(LAYERS)
            fused = all(type(a.grad_fn).__name__ == "TrunkBackward" for n, a in acts.items() if n != "pool2")
            assert fused == (run == net.forward)  # the fused node, then the layer-by-layer graph
            if grads is None:  # the same upstream gradients for both; none for relu3_1
                grads = {n: torch.randn(a.shape) for n, a in acts.items() if n != "relu3_1"}
            loss = sum((acts[n].float() * g).sum() for n, g in grads.items())
            loss.backward()
            results.append(({n: a.detach().float() for n, a in acts.items()}, xg.grad))
        (a1, g1), (a2, g2) = results
        tol = {"rtol": 2e-2, "atol": 2e-2}
        for n in LAYERS:
            torch.testing.assert_close(a1[n], a2[n], **tol)
        scale = g2.abs().max()
        torch.testing.assert_close(g1 / scale, g2 / scale, **tol)
        assert g1.abs().sum() > 0
    finally:
        net.pooling = "max"
        net.set_precision(torch.float32, channels_last=False)


def test_trunk_leaves_no_reference_cycle(net):
    # Outputs kept on the node itself would hold the graph (and all activations) until the
    # garbage collector runs; held as detached aliases, they go when the last reference does.
    import gc
    import weakref

    net.set_precision(torch.bfloat16, channels_last=True)
    gc.disable()
    try:
        x = torch.rand(1, 3, 32, 32, requires_grad=True)
        acts = net(x, ["relu1_1", "relu3_1"])
        assert type(acts["relu3_1"].grad_fn).__name__ == "TrunkBackward"
        ref = weakref.ref(acts["relu3_1"])
        del acts
        assert ref() is None
    finally:
        gc.enable()
        net.set_precision(torch.float32, channels_last=False)


@pytest.mark.parametrize(
    "normalize, layers",
    [(True, LAYERS), (False, ["pool1", "relu2_1", "pool2"])],  # unscaled pools get autograd's own tensors
)
def test_trunk_backward_leaves_the_incoming_gradients_as_they_were(normalize, layers):
    # The node masks its own gradients in place; those autograd hands it (already in the activations'
    # dtype and layout, so used as they are) are read, never written: relu4_2's, the first the backward
    # pass masks, and pool2's and pool1's, masked on the pooled values for the ReLU before each.
    net = VGG19Features(load_weights(None, "auto"), last="relu4_2", normalize=normalize)
    net.set_precision(torch.bfloat16, channels_last=True)
    x = torch.rand(1, 3, 48, 64, requires_grad=True)
    acts = net(x, layers)
    grads = [torch.randn(a.shape).to(a.dtype).contiguous(memory_format=torch.channels_last) for a in acts.values()]
    copies = [g.clone() for g in grads]
    torch.autograd.backward(list(acts.values()), grads)
    assert x.grad is not None and x.grad.abs().sum() > 0
    for n, g, copy in zip(acts, grads, copies, strict=True):
        assert torch.equal(g, copy), n
        assert (g < 0).any(), n  # values the ReLU's mask would have zeroed


def test_trunk_gives_no_gradient_to_outputs_no_cost_reads(net, monkeypatch):
    # An output no cost reads reaches the backward pass as None, not as zeros that would be copied
    # into the activations' layout and added; the gradient is the one without that output.
    net.set_precision(torch.bfloat16, channels_last=True)
    added = []
    real_add = trunk._add
    monkeypatch.setattr(trunk, "_add", lambda g, e, like: (added.append(e is not None), real_add(g, e, like))[1])
    try:
        x = torch.rand(1, 3, 48, 64)
        got = []
        for layers in (["relu1_1", "relu3_1"], ["relu3_1"]):
            added.clear()
            xg = x.clone().requires_grad_()
            net(xg, layers)["relu3_1"].float().sum().backward()
            assert added.count(True) == 1  # relu3_1's gradient alone
            got.append(xg.grad)
        torch.testing.assert_close(got[0], got[1], rtol=0, atol=0)
    finally:
        net.set_precision(torch.float32, channels_last=False)
