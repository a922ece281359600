"""Checkpoints: enough of a run to continue it later (``--resume``), a few megabytes.

A checkpoint holds the config, digests of the input pictures, where the run stood (scale, steps
done) and its best picture, plus Adam's moments when Adam runs. L-BFGS's curvature pairs are left
out (at 512 px its 100 pairs are ~0.5 GB): a resumed L-BFGS run starts a fresh history from the
best picture, which costs a few steps of progress, not the picture.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from . import cache, writing
from .config import Config, ConfigError
from .inputs import Inputs
from .weights import read_torch_file

FORMAT = "brushwork-checkpoint/1"
# Fields that may differ on resume: they change where and how often, not what is painted.
FREE_FIELDS = ("device", "save_every")


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used for this run."""


def inputs_digest(inputs: Inputs) -> dict:
    return {
        "content": cache.digest(inputs.content),
        "styles": [cache.digest(s) for s in inputs.styles],
        "masks": {str(i): cache.digest(m) for i, m in sorted(inputs.masks.items())},
    }


# What a checkpoint holds, and the type of each (a file that lacks one is refused when loaded).
FIELDS: dict[str, type | tuple[type, ...]] = {
    "config": str,
    "inputs": dict,
    "scale": int,
    "scale_step": int,
    "step": int,
    "elapsed": (int, float),
    "best": torch.Tensor,
    "best_losses": dict,
    "failures": int,
    "lr_scale": (int, float),
}


@dataclasses.dataclass
class State:
    """Where a run stands, as the loop keeps it from step to step: a checkpoint holds all of it, besides
    the config, the inputs' digests and Adam's moments."""

    best: torch.Tensor | None = None  # the best picture of the running scale (on the run's device)
    best_losses: dict[str, float] = dataclasses.field(default_factory=dict)
    scale: int = 0  # the running scale
    scale_step: int = 0  # steps done in it
    step: int = 0  # steps done in all
    steps: tuple[int, ...] = ()  # steps per scale: its cap, or what it took if it converged early
    elapsed: float = 0.0
    failures: int = 0  # steps whose loss or gradient was not finite
    lr_scale: float = 1.0  # Adam's step, halved by each failure

    @classmethod
    def of(cls, state: Mapping) -> State:
        """The state a checkpoint (a ``Painting.checkpoint()`` or a loaded file) continues from."""
        kept = {f.name: state[f.name] for f in dataclasses.fields(cls) if f.name in state}
        return cls(**{**kept, "steps": tuple(state.get("steps") or ())})  # older files lack "steps"

    def checkpoint(self, config: Config, inputs: Inputs, opt) -> dict:
        """A checkpoint of this state for a run of ``config`` on ``inputs``, optimized by ``opt``."""
        assert self.best is not None  # the loop sets it with a scale's starting picture
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state.update(config=config.to_json(), inputs=inputs_digest(inputs), steps=list(self.steps))
        state.update(best=self.best.detach().float().cpu().clone(), best_losses=dict(self.best_losses))
        if isinstance(opt, torch.optim.Adam):
            state["adam"] = opt.state_dict()
        return state


def encode(state: dict) -> bytes:
    """A ``Painting.checkpoint()`` as the bytes of a checkpoint file."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    return buf.getvalue()


def save(state: dict, path: str | os.PathLike) -> Path:
    """Write a checkpoint atomically (an existing one is replaced only by a complete one)."""
    data = encode(state)
    return writing.write_atomic(path, lambda f: f.write(data))


def load(path: str | os.PathLike) -> dict:
    path = Path(path)
    state = read_torch_file(path, CheckpointError, f"{path}: no such checkpoint", f"{path}: not a brushwork checkpoint")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a brushwork checkpoint")
    damaged = [k for k, t in FIELDS.items() if not isinstance(state.get(k), t) or isinstance(state.get(k), bool)]
    inputs = state.get("inputs", {})
    if (
        damaged
        or not isinstance(inputs, dict)
        or any(k not in inputs for k in ("content", "styles", "masks"))
        or state["best"].dim() != 4
    ):
        raise CheckpointError(f"{path}: a damaged brushwork checkpoint ({', '.join(damaged) or 'inputs, best'})")
    state["path"] = str(path)
    return state


def check(state: dict, config: Config, inputs: Inputs) -> dict:
    """``state`` if it continues this very run; else a ``CheckpointError`` saying what differs."""
    name = state.get("path", "checkpoint")
    saved = Config.from_json(state["config"], source=name)
    differ = [
        f.name
        for f in dataclasses.fields(Config)
        if f.name not in FREE_FIELDS and saved.effective(f.name) != config.effective(f.name)
    ]
    if differ:
        shown = ", ".join(
            f"--{d.replace('_', '-')} {saved.effective(d)!r} (now {config.effective(d)!r})" for d in differ
        )
        raise CheckpointError(f"{name} was made with other options: {shown}; resume with the same options")
    mine = inputs_digest(inputs)
    for key in ("content", "styles", "masks"):
        if state["inputs"][key] != mine[key]:
            raise CheckpointError(
                f"{name} was made with other {key if key != 'content' else 'content picture'}; "
                f"resume with the same pictures"
            )
    return state
