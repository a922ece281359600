"""One scale's objective (forward and backward) replayed as a CUDA graph.

On a GPU a 512 px step is a few milliseconds of kernels but some 400 launches from Python (the
network both ways, the Grams, the costs), so the step waits on the CPU: on an H100, 7.8 ms a step
for 3.5 ms of GPU work (benchmarks/results/speed-cuda.md). Captured once per scale, the whole
evaluation is one launch. The picture's shape is fixed within a scale, which a graph needs.

Only where replaying is exactly the same computation: the Gram and w2 costs (swd's directions and
nn's sample points are drawn anew at each step, on the CPU), the whole picture (no tiles), no
caller's hook (a video frame's temporal cost). The network's precision does not matter: under
bfloat16 the captured kernels are the eager ones. A capture that fails falls back to running the
objective as it is, for the rest of the scale.
"""

from __future__ import annotations

import torch
from torch import Tensor

WARMUP = 3  # eager evaluations on a side stream before capture (cuBLAS/cuDNN pick their kernels)


def wanted(config, device: torch.device, tiled: bool, hooked: bool) -> bool:
    """Whether a scale's objective runs as a CUDA graph (see the module docstring)."""
    return (
        config.cuda_graphs
        and device.type == "cuda"
        and config.style_loss in ("gram", "w2")
        and not tiled
        and not hooked
    )


class Graphed:
    """``backward(x) -> (J, terms)`` as ``objective.backward`` does, ``x.grad`` set, by replaying
    one captured evaluation. ``like``: a picture of the scale's shape, dtype and device."""

    def __init__(self, objective, like: Tensor):
        self.objective = objective
        self.x = torch.zeros_like(like).requires_grad_(True)  # the graph's own input
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager = False  # capture failed: run the objective itself
        self.out: Tensor | None = None  # (J, *terms) as the graph leaves them
        self.keys: list[str] = []  # the terms' names

    def backward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        if self.eager:
            return self.objective.backward(x)
        with torch.no_grad():
            self.x.copy_(x)
        if self.graph is None and not self._capture():
            return self.objective.backward(x)
        assert self.graph is not None and self.out is not None and self.x.grad is not None
        self.graph.replay()
        # Copies: the next replay overwrites the graph's outputs, and the optimizer keeps what it reads.
        x.grad = self.x.grad.clone()
        out = self.out.clone()
        return out[0], dict(zip(self.keys, out[1:], strict=True))

    def _capture(self) -> bool:
        """Warm up on a side stream, then record one evaluation; False (and eager from now on) if
        the objective cannot be captured."""
        try:
            side = torch.cuda.Stream(device=self.x.device)
            side.wait_stream(torch.cuda.current_stream(self.x.device))
            with torch.cuda.stream(side):
                for _ in range(WARMUP):
                    self.x.grad = None
                    self.objective.backward(self.x)
            torch.cuda.current_stream(self.x.device).wait_stream(side)
            self.x.grad = None
            graph = torch.cuda.CUDAGraph()
            # thread_local: the studio's other workers may use the GPU meanwhile; their calls are
            # not refused (the capture's stream is non-blocking, so theirs never wait on it).
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                J, terms = self.objective(self.x)
                J.backward()
                out = torch.stack([t.detach().float() for t in (J, *terms.values())])  # one copy a step
            self.graph, self.out, self.keys = graph, out, list(terms)
            return True
        except RuntimeError:  # an operation that cannot be captured (a host sync, a CPU tensor)
            self.eager, self.graph, self.x.grad = True, None, None
            torch.cuda.synchronize(self.x.device)
            return False
