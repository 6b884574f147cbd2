"""Workspaces' data keys for files at rest: made, unwrapped, cached briefly, destroyed
(envelope encryption, ``cell.storage.envelope``; docs/compliance.md)."""

from __future__ import annotations

import base64
import binascii
import os
import time

from cell.errors import CellError
from cell.settings import StorageSettings
from cell.storage import Storage, envelope
from cell.store import keys as store
from cell.store.db import Database

CACHE_SECONDS = 5.0  # a destroyed key stops working in every process within this


def key_ring(settings: StorageSettings) -> dict[str, bytes]:
    """The master keys, decoded; ``ValueError`` for a malformed one or an unknown current id."""
    ring: dict[str, bytes] = {}
    for key_id, secret in settings.master_keys.items():
        try:
            raw = base64.b64decode(secret.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"storage.master_keys[{key_id!r}] is not base64") from exc
        if len(raw) != 32:
            raise ValueError(f"storage.master_keys[{key_id!r}] must be 32 bytes (AES-256), not {len(raw)}")
        ring[key_id] = raw
    if settings.master_key_id is not None and settings.master_key_id not in ring:
        raise ValueError(f"storage.master_key_id {settings.master_key_id!r} is not in storage.master_keys")
    return ring


class WorkspaceKeys:
    """``cell.storage.envelope.DataKeys`` over the ``workspace_keys`` table."""

    def __init__(self, db: Database, ring: dict[str, bytes], current: str) -> None:
        self.db, self.ring, self.current = db, ring, current
        self._cache: dict[str, tuple[float, bytes]] = {}

    async def data_key(self, workspace_id: str, *, create: bool) -> bytes | None:
        cached = self._cache.get(workspace_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        async with self.db.read() as conn:
            row = await store.get(conn, workspace_id)
        if row is None and create:
            async with self.db.transaction() as conn:
                await store.insert(conn, workspace_id, self.current,
                                   envelope.wrap(self.ring[self.current], workspace_id, os.urandom(32)))
                row = await store.get(conn, workspace_id)
        if row is None:
            return None
        if row["destroyed_at"] is not None:
            self._cache.pop(workspace_id, None)
            raise envelope.KeyDestroyed(f"the data key of {workspace_id} was destroyed")
        master = self.ring.get(row["master_key_id"])
        if master is None:
            raise OSError(f"master key {row['master_key_id']!r} of {workspace_id} is not in this cell's key ring")
        data_key = envelope.unwrap(master, workspace_id, bytes(row["wrapped_key"]))
        self._cache[workspace_id] = (time.monotonic(), data_key)
        return data_key

    def forget(self, workspace_id: str) -> None:
        self._cache.pop(workspace_id, None)


async def destroy(db: Database, storage: Storage, workspace_id: str) -> None:
    """Crypto-shred a workspace's files: its data key goes for good, so every byte sealed with it,
    wherever a copy survives, is unreadable. ``invalid_state`` when it has no live key."""
    async with db.transaction() as conn:
        if not await store.destroy(conn, workspace_id):
            raise CellError("invalid_state", detail=f"{workspace_id} has no data key to destroy here")
    storage.forget(workspace_id)  # this process at once; the others within CACHE_SECONDS
