"""Slack Web API method handlers, one module per family; importing registers them."""

from __future__ import annotations

import importlib
import pkgutil


def load() -> None:
    """Import every module of this package (each registers its methods once)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
