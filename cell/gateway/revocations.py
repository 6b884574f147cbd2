"""Revocation reaching real-time: the sockets and long-polls of a revoked token end within a second.

Each gateway asks PostgreSQL (the source of truth, so this works while Redis is away) every
``POLL_SECONDS`` for the tokens revoked in the last ``LOOKBACK_SECONDS``: an explicit
``auth.revoke`` or admin revocation, a deactivated user or a removed bot (whose tokens are
all revoked with them). The look-back overlaps the previous query, so a revocation that
commits late is still seen; ``seen`` makes each count once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from cell.store import directory
from cell.store.db import Database

POLL_SECONDS = 0.5
LOOKBACK_SECONDS = 10.0

Revoked = Callable[[dict[str, Any]], None]


def tokens_revoked_frame(row: dict[str, Any]) -> dict[str, Any]:
    """Slack's ``tokens_revoked`` event for one token (user tokens under ``oauth``, bot tokens under ``bot``)."""
    kind = "bot" if row["kind"] == "xoxb" else "oauth"
    return {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [], kind: [row["user_id"]]}}


class RevocationWatch:
    def __init__(self, db: Database, on_revoked: Revoked, watched: Callable[[str], bool]) -> None:
        self.db = db
        self.on_revoked = on_revoked
        self.watched = watched  # is any socket or long-poll here using this token id?
        self.seen: dict[str, float] = {}

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(POLL_SECONDS)

    async def check(self) -> None:
        async with self.db.read() as conn:
            rows = await directory.revoked_since(conn, LOOKBACK_SECONDS)
        now = time.monotonic()
        for row in rows:
            if row["token_id"] in self.seen:
                continue
            self.seen[row["token_id"]] = now
            if self.watched(row["token_id"]):
                self.on_revoked(row)
        for token_id in [t for t, at in self.seen.items() if now - at > 2 * LOOKBACK_SECONDS]:
            del self.seen[token_id]
