"""The studio: a local web page (and JSON/PNG API) for exploring trained generators.

>>> from ganforge.web import create_app, serve
>>> serve([load_run("runs/my-run")])          # http://127.0.0.1:7860/
"""

from __future__ import annotations


def __getattr__(name: str):
    # Lazy, so that `ganforge --help` does not import FastAPI.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(name)


__all__ = ["create_app", "serve"]
