"""VGG19's layers forward and backward as one autograd node, for the CPU.

Autograd runs a VGG step as 37 small nodes, and at 512 px the passes over the activations that are
not convolutions cost half as much as the convolutions. This node runs the same arithmetic with
fewer passes:
- each convolution and its ReLU are one oneDNN call (the ReLU as the convolution's post-op);
- a ReLU followed by a max pool (and not itself asked for) is differentiated after the pool, on a
  quarter of the positions: the pool's gradient goes to its window's maximum only, which is
  positive exactly when the pooled value is, so masking there is the same;
- gradients arriving from the costs are added in place; each layer's saved activations are
  dropped as soon as the backward pass has gone through it.
The gradients are the ones autograd computes (``tests/test_trunk.py``); no weight gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

_aten = torch.ops.aten
_ONE, _PAD, _POOL = [1, 1], [1, 1], [2, 2]


def available(x: Tensor) -> bool:
    """Whether the fused node can run ``x``: a CPU tensor with oneDNN present."""
    return x.device.type == "cpu" and torch.backends.mkldnn.is_available()


def _conv_relu(x: Tensor, conv: torch.nn.Conv2d) -> Tensor:
    return torch.ops.mkldnn._convolution_pointwise(x, conv.weight, conv.bias, _PAD, _ONE, _ONE, 1, "relu", [], "")


class Trunk(torch.autograd.Function):
    """``Trunk.apply(x, convs, names, wanted, pooling)`` -> the activations of ``wanted`` (relu and
    pool layers of ``names``, in that order), for ``x`` already preprocessed, in the weights' dtype
    and layout. ``names`` runs conv, relu (always in pairs) and pool layers; ``pooling``: max or avg."""

    @staticmethod
    def forward(ctx, x: Tensor, convs: dict, names: Sequence[str], wanted: Sequence[str],  # type: ignore[override]
                pooling: str = "max"):
        # Per conv: (weight, input, its ReLU's output and name, mask there?); per pool: (input, indices, output, name).
        tape: list[tuple] = []
        out: dict[str, Tensor] = {}
        for i, name in enumerate(names):
            if name.startswith("conv"):
                relu = names[i + 1]
                y = _conv_relu(x, convs[name])
                later_pool = pooling == "max" and i + 2 < len(names) and names[i + 2].startswith("pool")
                tape.append(("conv", convs[name].weight, x, y, relu, relu in wanted or not later_pool))
                x = y
            elif name.startswith("pool") and pooling == "max":
                p, idx = _aten.max_pool2d_with_indices(x, _POOL, _POOL)
                tape.append(("pool", x, idx, p, name))
                x = p
            elif name.startswith("pool"):
                p = _aten.avg_pool2d(x, _POOL, _POOL)
                tape.append(("pool", x, None, p, name))
                x = p
            if name in wanted:
                out[name] = x
        outs = tuple(out[n] for n in wanted)
        # Outputs go through save_for_backward (kept on ctx they would make a reference cycle with
        # their own grad_fn); the tape names them by their place among the outputs.
        ctx.save_for_backward(*outs)
        places = {id(t): k for k, t in enumerate(outs)}
        ctx.tape = [tuple(places[id(v)] if isinstance(v, Tensor) and id(v) in places else v for v in e)
                    for e in tape]
        ctx.wanted = list(wanted)
        return outs

    @staticmethod
    def backward(ctx, *grads: Tensor):  # type: ignore[override]
        ext = {n: g for n, g in zip(ctx.wanted, grads, strict=True) if g is not None}
        saved = ctx.saved_tensors
        tape, g = ctx.tape, None
        while tape:
            entry = tuple(saved[v] if isinstance(v, int) and not isinstance(v, bool) else v for v in tape.pop())
            if entry[0] == "pool":
                _, x_in, idx, p, name = entry
                g = _add(g, ext.get(name), p)
                if g is None:
                    continue
                if idx is None:
                    g = _aten.avg_pool2d_backward(g, x_in, _POOL, _POOL, [0, 0], False, True, None)
                    continue
                if not tape[-1][5]:  # the ReLU before the pool is masked here, on the pooled values
                    g = _aten.threshold_backward(g, p, 0)
                g = _aten.max_pool2d_with_indices_backward(g, x_in, _POOL, _POOL, [0, 0], _ONE, False, idx)
            else:
                _, w, x_in, y, relu, mask = entry
                g = _add(g, ext.get(relu), y)
                if g is None:
                    continue
                if mask:
                    g = _aten.threshold_backward(g, y, 0)
                g = _aten.convolution_backward(g, x_in, w, None, _ONE, _PAD, _ONE, False, [0, 0], 1,
                                               [True, False, False])[0]
        ctx.tape = None
        return g, None, None, None, None


def _add(g: Tensor | None, e: Tensor | None, like: Tensor) -> Tensor | None:
    """The gradient so far plus one from the costs (in place into ``g``, which is the node's own)."""
    if e is None:
        return g
    e = e.to(like.dtype).contiguous(memory_format=_layout(like))
    # ``e`` itself may go on: every step after this one writes a new tensor before the next add_.
    return e if g is None else g.add_(e)


def _layout(t: Tensor) -> torch.memory_format:
    return torch.channels_last if not t.is_contiguous() and t.is_contiguous(
        memory_format=torch.channels_last) else torch.contiguous_format
