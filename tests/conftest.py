import os
from pathlib import Path

import pytest
import torch

from brushwork import optimize
from brushwork.data import STARRY_NIGHT, TUBINGEN

from pace.sitecustomize import DELAY, slowed

# The studio's tests take the ``studio`` fixture from their shared helpers: a plugin, so that no test
# module imports a fixture by name (pyflakes would take it for unused, then redefined).
pytest_plugins = ["studio_helpers"]


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _pace(monkeypatch):
    """BRUSHWORK_TEST_STEP_DELAY=<seconds>: every optimizer step sleeps that long first, here and in
    the processes the tests start (pytest_configure; see tests/pace/sitecustomize.py), as on a
    slower machine."""
    if DELAY > 0:
        monkeypatch.setattr(optimize, "step", slowed(optimize.step))


@pytest.fixture(scope="session")  # constant paths: module-scoped fixtures may use them too
def tubingen():
    return TUBINGEN


@pytest.fixture(scope="session")
def starry():
    return STARRY_NIGHT


def pytest_configure(config):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))  # tests/browser.py, shared with docs/screenshot.py
    if DELAY > 0:  # set once, before any fixture (of any scope) starts a process
        pace = str(Path(__file__).parent / "pace")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [pace, os.environ.get("PYTHONPATH")]))
