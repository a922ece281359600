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
