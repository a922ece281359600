"""A slower machine, for the tests: with BRUSHWORK_TEST_STEP_DELAY=<seconds> set, each optimizer
step of brushwork (``brushwork.optimize.step``) first sleeps that long. This shows that no test
depends on the machine's speed (issue 16): run the suite with a delay a few times a step's cost.

``tests/conftest.py`` slows the test process itself and, when the variable is set, puts this folder
on PYTHONPATH, so every Python process the tests start (``python -m brushwork``, the batch's and
Dask's worker processes, a served studio) imports this file at start-up, as Python does with the
first ``sitecustomize`` on its path, and is slowed the same way."""

from __future__ import annotations

import functools
import importlib.abc
import os
import sys
import time
from importlib.machinery import ModuleSpec, PathFinder

DELAY = float(os.environ.get("BRUSHWORK_TEST_STEP_DELAY") or 0)


def slowed(step):
    """``step``, sleeping ``DELAY`` seconds before each call."""

    @functools.wraps(step)
    def slow_step(*args, **kwargs):
        time.sleep(DELAY)
        return step(*args, **kwargs)

    return slow_step


class _SlowOnImport(importlib.abc.MetaPathFinder):
    """Wraps ``step`` as ``brushwork.optimize`` is imported, so that a process that never paints
    (``python -c "import av; ..."``) does not import torch here."""

    def find_spec(self, name, path=None, target=None) -> ModuleSpec | None:
        if name != "brushwork.optimize":
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module) -> None:
            run(module)
            module.step = slowed(module.step)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]  # this one loader, on purpose
        return spec


if __name__ == "sitecustomize" and DELAY > 0:  # imported at start-up, not by conftest
    sys.meta_path.insert(0, _SlowOnImport())
