import os
from pathlib import Path

import pytest
import torch

from brushwork import network, optimize
from brushwork.data import STARRY_NIGHT, TUBINGEN

from pace.sitecustomize import TINY, patch, patches

# The studio's tests take the ``studio`` fixture from their shared helpers: a plugin, so that no test
# module imports a fixture by name (pyflakes would take it for unused, then redefined).
pytest_plugins = ["studio_helpers"]


@pytest.fixture(autouse=True)
def _torch_state():
    torch.set_num_threads(2)
    # Every test draws the same numbers whatever ran before it: an unseeded draw once made a bf16
    # tolerance test fail 1 run in 12, depending on what the tests before it had drawn.
    torch.manual_seed(0)


@pytest.fixture(scope="session")  # constant paths: module-scoped fixtures may use them too
def tubingen():
    return TUBINGEN


@pytest.fixture(scope="session")
def starry():
    return STARRY_NIGHT


def pytest_configure(config):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))  # tests/browser.py, shared with docs/screenshot.py
    # BRUSHWORK_TEST_STEP_DELAY and BRUSHWORK_TEST_TINY (tests/pace/sitecustomize.py): a slower or a
    # faster machine, here and in every process the tests start; set once, before any fixture runs.
    if patches():
        for module in (optimize, network):
            patch(module)
        pace = str(Path(__file__).parent / "pace")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [pace, os.environ.get("PYTHONPATH")]))


def pytest_collection_modifyitems(config, items):
    """BRUSHWORK_TEST_TINY paints with a narrowed VGG19: a test of what the whole one paints (its colours,
    how close bf16 comes to fp32) says nothing of the pace, so it is left to the normal run."""
    for item in items:
        if TINY and item.get_closest_marker("full_network"):
            item.add_marker(pytest.mark.skip(reason="checks the whole VGG19; BRUSHWORK_TEST_TINY narrows it"))
