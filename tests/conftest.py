import pytest
import torch

from brushwork.data import STARRY_NIGHT, TUBINGEN


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
