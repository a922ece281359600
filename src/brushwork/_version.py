"""The version, in a module of its own: the package, PNG metadata (``events``) and the packaging
(``pyproject.toml``) read it here, so recording it imports nothing else."""

__version__ = "0.1.0"
