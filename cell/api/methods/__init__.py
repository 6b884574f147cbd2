"""Slack Web API method handlers, one module per family; importing registers them."""

from __future__ import annotations

import importlib

FAMILIES = ("api", "auth", "conversations", "chat", "reactions", "pins", "users")


def load() -> None:
    for family in FAMILIES:
        importlib.import_module(f"cell.api.methods.{family}")
