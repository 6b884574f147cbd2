"""``/v1/control``: what the control plane asks of a cell (pins, freeze, hand-over)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
