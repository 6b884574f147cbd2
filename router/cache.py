"""The router's copy of the routing table, and its file on disk.

The file is rewritten (atomically) a moment after the table changes, so a
router that restarts while the control plane is down still serves every
workspace it knew.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import anyio
import orjson

from control_plane.routing import CellRoute, Change, RoutingTable

log = logging.getLogger(__name__)


class RoutingCache:
    def __init__(self, state_file: Path) -> None:
        self.table = RoutingTable()
        self.state_file = state_file
        self.source = "empty"  # where the table came from: empty, file, snapshot
        self.synced_at: float | None = None  # monotonic time the control plane last answered
        self.control_plane_up = False
        self._dirty = asyncio.Event()

    def lookup(self, workspace_id: str) -> CellRoute | None:
        return self.table.lookup(workspace_id)

    @property
    def version(self) -> int:
        return self.table.version

    def replace(self, table: RoutingTable) -> None:
        self.table = table
        self.source = "snapshot"
        self._dirty.set()

    def apply(self, changes: list[Change]) -> int:
        """Apply in order; raises ``VersionGap`` (the caller takes a snapshot)."""
        applied = self.table.apply(changes)
        if applied:
            self._dirty.set()
        return applied

    def learn(self, workspace_id: str, cell: CellRoute) -> None:
        """One route learned by asking (a workspace newer than our copy); the change stream confirms it."""
        self.table.cells.setdefault(cell.name, cell)
        self.table.routes[workspace_id] = cell.name
        self._dirty.set()

    def heard_from_control_plane(self) -> None:
        self.control_plane_up = True
        self.synced_at = time.monotonic()

    # -- the file -------------------------------------------------------------------------

    def load(self) -> bool:
        try:
            data = orjson.loads(self.state_file.read_bytes())
            self.table = RoutingTable.from_json(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if self.state_file.exists():
                log.warning("ignoring unreadable routing table %s: %s", self.state_file, exc)
            return False
        self.source = "file"
        return True

    def _write(self, payload: bytes) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, self.state_file)

    async def persist_loop(self, pause: float = 0.5) -> None:
        """Named background task: write the table after changes, at most every ``pause`` seconds."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            payload = orjson.dumps(self.table.to_json())
            try:
                await anyio.to_thread.run_sync(self._write, payload)
            except OSError as exc:
                log.warning("cannot save the routing table to %s: %s", self.state_file, exc)
            await asyncio.sleep(pause)

    def flush(self) -> None:
        """Write now (at shutdown)."""
        if self._dirty.is_set():
            self._write(orjson.dumps(self.table.to_json()))
            self._dirty.clear()
