import pytest
import torch

from brushwork.data import STARRY_NIGHT, TUBINGEN

# The studio's tests take the ``studio`` fixture from their shared helpers: a plugin, so that no test
# module imports a fixture by name (pyflakes would take it for unused, then redefined).
pytest_plugins = ["studio_helpers"]


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture
def tubingen():
    return TUBINGEN


@pytest.fixture
def starry():
    return STARRY_NIGHT


def pytest_configure(config):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))  # tests/browser.py, shared with docs/screenshot.py
