"""The one place where outbox consumers are registered: the worker runs exactly these.

To add a consumer (docs/outbox.md): write it in ``cell/consumers/<name>.py`` as a
subclass of :class:`cell.consumers.base.Consumer`, and return an instance here.
"""

from __future__ import annotations

from cell.bootstrap import Services
from cell.consumers.base import Consumer


def consumers(services: Services) -> list[Consumer]:
    """Every consumer the ``worker`` role runs, built over this process's services."""
    return []
