"""One optimizer step of a scale: the optimizer (L-BFGS or Adam) and a step that reports the losses
of the picture it started from and whether everything stayed finite."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .config import Config
from .lbfgs import LBFGS

# No pixel (in [0, 1]) moves by more than this in one L-BFGS step: without a line search the first pairs'
# curvature can make a step huge (on a narrowed VGG19 with --lbfgs-fine 0.5 the loss rose ×700, then
# ×10⁶, in one step). In whole-VGG19 runs it shortens only some early steps of a scale: at 512 px the
# two closest pairs of the schedule study moved by under 1 % (benchmarks/results/schedule-study-cpu.md).
MAX_MOVE = 0.25


def optimizer(config: Config, x: Tensor, steps: int, lr_scale: float = 1.0):
    if config.optimizer == "adam":
        return torch.optim.Adam([x], lr=config.lr * lr_scale)
    # One L-BFGS iteration per step() call, ``lbfgs_history`` pairs (fewer when the scale has fewer
    # steps: memory); no early stop, no line search.
    return LBFGS(x, lr=config.lr, history=min(config.lbfgs_history, steps), fine=config.lbfgs_fine, max_move=MAX_MOVE)


def step(opt, objective, x: Tensor, clamp: bool) -> tuple[dict[str, float], bool, Tensor]:
    """One step of ``opt`` on ``objective`` (Adam's steps ``clamp`` the pixels to [0, 1]): (the losses
    at the picture it started from, whether all was finite, that picture)."""
    terms: dict[str, Tensor] = {}
    before = x.detach().clone()  # the losses belong to this picture, not the one the step makes

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        J, parts = objective.backward(x)
        terms.update(parts, total=J)
        return J

    opt.step(closure)
    assert x.grad is not None  # the closure's backward() set it
    with torch.no_grad():
        if clamp:
            x.clamp_(0, 1)  # Adam steps stay in the valid pixel range; L-BFGS keeps its curvature pairs.
        finite = torch.isfinite(x).all() & torch.isfinite(x.grad).all()
        # One device-to-host copy for all the terms and the check, not one per term.
        values = torch.stack([*(v.float() for v in terms.values()), finite.float()]).tolist()
    losses = dict(zip(terms, values[:-1], strict=False))
    return losses, values[-1] == 1.0 and all(math.isfinite(v) for v in values[:-1]), before
