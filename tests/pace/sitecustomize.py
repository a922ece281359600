"""A slower or a faster machine, for the tests (issue 16: no test may depend on the machine's speed).

- ``BRUSHWORK_TEST_STEP_DELAY=<seconds>``: each optimizer step of brushwork (``brushwork.optimize.step``)
  first sleeps that long; run the suite with a delay a few times a step's cost.
- ``BRUSHWORK_TEST_TINY=1``: the network a run paints with (``brushwork.network.load_weights``) keeps a
  quarter of each VGG19 layer's channels, which makes each step 4.6–12× cheaper (at 32–128 px) while the
  pictures keep their sizes (the quality measures keep the whole network; conftest skips the tests marked
  ``full_network``, which check what the whole network paints).

``tests/conftest.py`` does the same to the test process itself and, when either variable is set, puts
this folder on PYTHONPATH, so every Python process the tests start (``python -m brushwork``, the
batch's and Dask's worker processes, a served studio) imports this file at start-up, as Python does
with the first ``sitecustomize`` on its path, and is paced the same way."""

from __future__ import annotations

import functools
import importlib.abc
import os
import sys
import time
from collections.abc import Callable
from importlib.machinery import ModuleSpec, PathFinder

DELAY = float(os.environ.get("BRUSHWORK_TEST_STEP_DELAY") or 0)
TINY = os.environ.get("BRUSHWORK_TEST_TINY", "0") not in ("", "0")
NARROW = 4  # TINY keeps 1/NARROW of each layer's channels


def slowed(step):
    """``step``, sleeping ``DELAY`` seconds before each call."""

    @functools.wraps(step)
    def slow_step(*args, **kwargs):
        time.sleep(DELAY)
        return step(*args, **kwargs)

    return slow_step


def narrowed(load_weights):
    """``load_weights``, keeping the first 1/``NARROW`` of each convolution's filters (and of the next
    one's inputs). Cached like ``load_weights``, so a network's weights keep one identity (``vgg``
    keys its layer scales by it)."""

    @functools.lru_cache(maxsize=4)
    @functools.wraps(load_weights)
    def narrow_weights(path=None, fmt="auto"):
        weights = load_weights(path, fmt)
        convs, kept = {}, 3  # the picture's channels
        for name, (w, b) in weights.convs.items():
            out = w.shape[0] // NARROW
            convs[name] = (w[:out, :kept].contiguous(), b[:out].contiguous())
            kept = out
        return type(weights)(convs=convs, preprocess=weights.preprocess, format=weights.format)

    return narrow_weights


def patches() -> dict[str, tuple[str, Callable]]:
    """What the variables set wrap: {module: (its function, the wrapper)}."""
    wraps: dict[str, tuple[str, Callable]] = {}
    if DELAY > 0:
        wraps["brushwork.optimize"] = ("step", slowed)
    if TINY:
        wraps["brushwork.network"] = ("load_weights", narrowed)
    return wraps


def patch(module) -> None:
    """Wrap ``module``'s function as ``patches()`` says (nothing for another module)."""
    if module.__name__ in patches():
        name, wrap = patches()[module.__name__]
        setattr(module, name, wrap(getattr(module, name)))


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches a module as it is imported, so that a process that never paints (``python -c "import av;
    ..."``) does not import torch here."""

    def find_spec(self, name, path=None, target=None) -> ModuleSpec | None:
        if name not in patches():
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module) -> None:
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]  # this one loader, on purpose
        return spec


if __name__ == "sitecustomize" and patches():  # imported at start-up, not by conftest
    sys.meta_path.insert(0, _PatchOnImport())
