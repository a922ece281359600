"""VGG19's layers forward and backward as one autograd node, for the CPU.

Autograd runs a VGG step as 37 small nodes, and at 512 px the passes over the activations that are
not convolutions cost half as much as the convolutions. This node runs the same arithmetic with
fewer passes:
- each convolution and its ReLU are one oneDNN call (the ReLU as the convolution's post-op);
- a ReLU followed by a max pool (and not itself asked for) is differentiated after the pool, on a
  quarter of the positions: the pool's gradient goes to its window's maximum only, which is
  positive exactly when the pooled value is, so masking there is the same;
- gradients arriving from the costs are added, and the ReLUs' masks applied, in place (on the
  node's own tensors: those autograd hands in are only read); each layer's saved activations are
  dropped as soon as the backward pass has gone through it.
The gradients are the ones autograd computes (``tests/test_trunk.py``); no weight gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

_aten = torch.ops.aten
_ONE, _PAD, _POOL = [1, 1], [1, 1], [2, 2]


def available(x: Tensor) -> bool:
    """Whether the fused node runs ``x``: a bfloat16 CPU tensor, with oneDNN present. In float32 (a
    CPU without native bfloat16) a step is bound by the convolutions; there the node measured no
    faster than autograd's graph (1.015 s against 1.009 s at 512 px) and held 45 MB more."""
    return x.device.type == "cpu" and x.dtype == torch.bfloat16 and torch.backends.mkldnn.is_available()


def _conv_relu(x: Tensor, conv: torch.nn.Conv2d) -> Tensor:
    return torch.ops.mkldnn._convolution_pointwise(x, conv.weight, conv.bias, _PAD, _ONE, _ONE, 1, "relu", [], "")


class _Conv(NamedTuple):
    """A convolution and its ReLU on the tape; ``mask``: its ReLU's gradient is taken here (not
    after the max pool that follows)."""

    weight: Tensor
    x: Tensor  # its input
    y: Tensor  # its ReLU's output
    relu: str
    mask: bool


class _Pool(NamedTuple):
    x: Tensor
    indices: Tensor | None  # None: average pooling
    p: Tensor
    name: str


class Trunk(torch.autograd.Function):
    """``Trunk.apply(x, convs, names, wanted, pooling)`` -> the activations of ``wanted`` (relu and
    pool layers of ``names``, in that order), for ``x`` already preprocessed, in the weights' dtype
    and layout. ``names`` runs conv, relu (always in pairs) and pool layers; ``pooling``: max or avg."""

    @staticmethod
    def forward(
        ctx,
        x: Tensor,
        convs: dict,
        names: Sequence[str],
        wanted: Sequence[str],  # type: ignore[override]
        pooling: str = "max",
    ):
        tape: list[_Conv | _Pool] = []
        out: dict[str, Tensor] = {}
        for i, name in enumerate(names):
            if name.startswith("conv"):
                y = _conv_relu(x, convs[name])
                later_pool = pooling == "max" and i + 2 < len(names) and names[i + 2].startswith("pool")
                tape.append(_Conv(convs[name].weight, x, y, names[i + 1], names[i + 1] in wanted or not later_pool))
                x = y
            elif name.startswith("pool"):
                p, idx = (
                    _aten.max_pool2d_with_indices(x, _POOL, _POOL)
                    if pooling == "max"
                    else (_aten.avg_pool2d(x, _POOL, _POOL), None)
                )
                tape.append(_Pool(x, idx, p, name))
                x = p
            if name in wanted:
                out[name] = x
        outs = tuple(out[n] for n in wanted)
        # The tape holds the outputs as detached aliases (the outputs themselves would make a reference
        # cycle with their own grad_fn), not through save_for_backward, which would keep every one to
        # the end of the backward pass: popped from the tape, a layer's activations go at once.
        alias = {id(t): t.detach() for t in outs}
        ctx.tape = [
            e._replace(x=alias.get(id(e.x), e.x), y=alias.get(id(e.y), e.y))
            if isinstance(e, _Conv)
            else e._replace(x=alias.get(id(e.x), e.x), p=alias.get(id(e.p), e.p))
            for e in tape
        ]
        ctx.wanted = list(wanted)
        ctx.set_materialize_grads(False)  # an output no cost reads gets None, not zeros to copy and add
        return outs

    @staticmethod
    def backward(ctx, *grads: Tensor):  # type: ignore[override]
        ext = {n: g for n, g in zip(ctx.wanted, grads, strict=True) if g is not None}
        theirs = {id(t) for t in ext.values()}  # autograd's tensors: never written in place
        tape, g = ctx.tape, None
        while tape:  # popped as it goes: each layer's activations are freed once passed
            e = tape.pop()
            if isinstance(e, _Pool):
                g = _add(g, ext.get(e.name), e.p)
                if g is None:
                    continue
                if e.indices is None:
                    g = _aten.avg_pool2d_backward(g, e.x, _POOL, _POOL, [0, 0], False, True, None)
                    continue
                if not tape[-1].mask:  # the ReLU before the pool is masked here, on the pooled values
                    g = _relu_backward(g, e.p, id(g) not in theirs)
                g = _aten.max_pool2d_with_indices_backward(g, e.x, _POOL, _POOL, [0, 0], _ONE, False, e.indices)
            else:
                g = _add(g, ext.get(e.relu), e.y)
                if g is None:
                    continue
                if e.mask:
                    g = _relu_backward(g, e.y, id(g) not in theirs)
                g = _aten.convolution_backward(
                    g, e.x, e.weight, None, _ONE, _PAD, _ONE, False, [0, 0], 1, [True, False, False]
                )[0]
        ctx.tape = None
        return g, None, None, None, None


def _relu_backward(g: Tensor, y: Tensor, own: bool) -> Tensor:
    """``g`` where the ReLU's output ``y`` is positive, else 0: in place when ``g`` is the node's own.
    A fresh 25 MB tensor (relu1_1 at 512 px) costs its page faults: 5.5 ms against 1.3 in place."""
    if own:
        return _aten.threshold_backward.grad_input(g, y, 0, grad_input=g)
    return _aten.threshold_backward(g, y, 0)


def _add(g: Tensor | None, e: Tensor | None, like: Tensor) -> Tensor | None:
    """The gradient so far plus one from the costs (in place into ``g``, which is the node's own),
    ``e`` brought to ``like``'s dtype and layout first if need be."""
    if e is None:
        return g
    if e.dtype != like.dtype or e.stride() != like.stride():
        e = torch.empty_like(like).copy_(e)
    # ``e`` itself may go on: every step after this one writes a new tensor before the next add_.
    return e if g is None else g.add_(e)
