"""Presets: TOML files of Config fields. ``load_preset(NAME)`` reads a bundled one (see
``names()``), ``load_preset(PATH)`` a user's own file; command-line flags override either."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..config import Config, ConfigError

HERE = Path(__file__).parent


def names() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.toml"))


def load_preset(name_or_path: str) -> Config:
    path = Path(name_or_path)
    if path.suffix != ".toml" or not path.is_file():
        bundled = HERE / f"{name_or_path}.toml"
        if not bundled.is_file():
            if path.suffix == ".toml":
                raise ConfigError(f"preset file {path} not found")
            raise ConfigError(
                f"unknown preset {name_or_path!r}; bundled presets are {', '.join(names())}, or give a .toml file"
            )
        path = bundled
    data = _read(path)
    data.pop("description", None)
    try:
        return Config.from_dict(data, source=f"preset {path.name}")
    except TypeError as e:
        raise ConfigError(f"preset {path.name}: {e}") from None


def describe(name: str) -> str:
    """A bundled preset's one-line description (its name if it has none)."""
    return _read(HERE / f"{name}.toml").get("description", name)


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"preset {path}: not valid TOML ({e})") from None
