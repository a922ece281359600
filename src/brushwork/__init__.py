"""brushwork: neural style transfer (Gatys et al. 2015) as a library and a CLI."""

from ._version import __version__
from .config import Config, ConfigError
from .engine import Painting, Progress, Result, stylize, stylize_iter
from .images import ImageError
from .weights import WeightsError

__all__ = [
    "__version__",
    "Config",
    "ConfigError",
    "ImageError",
    "Painting",
    "Progress",
    "Result",
    "WeightsError",
    "stylize",
    "stylize_iter",
]
