"""Bundled images: the demo pair (Tübingen by Andreas Praefcke, CC BY 3.0; The Starry Night by
Vincent van Gogh, public domain). See LICENSES.md beside this file."""

from pathlib import Path

HERE = Path(__file__).parent
TUBINGEN = HERE / "tubingen.jpg"
STARRY_NIGHT = HERE / "starry_night.jpg"


def reference_images() -> tuple[Path, Path]:
    """The pictures the feature normalization is measured on (one photo, one painting)."""
    return TUBINGEN, STARRY_NIGHT
