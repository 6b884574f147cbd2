"""The catalog's numbered migrations (``migrations/NNNN_name.sql``), applied by the cell's runner."""

from __future__ import annotations

from pathlib import Path

from cell.store import migrate as runner

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def apply_all(dsn: str) -> list[str]:
    """Apply every pending catalog migration; returns the names applied now."""
    return runner.apply_all(dsn, MIGRATIONS_DIR)
