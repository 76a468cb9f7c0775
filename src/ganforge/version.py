"""ganforge's version, read from the installed package's metadata (pyproject.toml is the one place it is set)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ganforge")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
