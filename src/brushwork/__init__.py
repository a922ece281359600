"""brushwork: neural style transfer (Gatys et al. 2015) as a library and a CLI."""

from .config import Config, ConfigError
from .engine import Painting, Progress, Result, stylize, stylize_iter
from .images import ImageError
from .weights import WeightsError

__all__ = ["Config", "ConfigError", "ImageError", "Painting", "Progress", "Result", "WeightsError",
           "stylize", "stylize_iter"]
__version__ = "0.1.0"
