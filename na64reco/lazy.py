"""Lazy package exports (PEP 562): a package's public names, imported on first use.

``__getattr__, __dir__ = lazy_exports(__name__, {"name": "module.defining.it", ...})`` keeps
``import na64reco.<package>`` light: a command imports only what it uses (``na64 --help``
imports neither coffea nor numba).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, api: dict[str, str]) -> tuple[Callable, Callable]:
    """(``__getattr__``, ``__dir__``) for ``package`` exporting ``api`` (name -> module)."""

    def get_attribute(name: str) -> Any:
        module = api.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def list_names() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(api))

    return get_attribute, list_names
