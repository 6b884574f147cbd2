"""Retention: policies, and the job that deletes what is older than them (docs/compliance.md).

A workspace has at most one policy for itself, one for its DMs and group DMs, and one per
conversation; the most specific applies; ``keep_days = None`` keeps forever. The job (run
periodically by the worker: ``cell.worker.periodic``) deletes, per conversation, messages
older than the policy — replies, reactions, pins, mentions and search data with them — and
then the files no message shares any more (object-store bytes too, once no file of the
workspace has them), never anything a legal hold covers. It works in small batches: each is
one short transaction (bounded rows, a lock timeout), with a pause between batches, so live
traffic never waits long on it. What each run deleted (counts, never content) is recorded in
``retention_runs`` for the control plane to copy into its hash-chained audit log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from cell import storage as object_keys
from cell.domain import files as file_domain
from cell.errors import CellError
from cell.settings import RetentionSettings
from cell.storage import Storage
from cell.store import directory, messages
from cell.store import files as files_store
from cell.store import holds as holds_store
from cell.store import retention as store
from cell.store.db import Conn, Database

log = logging.getLogger(__name__)

SCOPES = ("workspace", "dms", "conversation")
MAX_DAYS = 36_500
DAY_US = 86_400 * 1_000_000


def _policy_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"scope": row["scope"], "conversation": row["channel_id"] or None, "keep_days": row["keep_days"],
            "keep": "forever" if row["keep_days"] is None else f"{row['keep_days']} days",
            "set_by": row["set_by"], "set_at": row["set_at"].isoformat()}


def _check(scope: str, conversation: str | None) -> str:
    if scope not in SCOPES:
        raise CellError("invalid_arguments", detail=f"scope must be one of {', '.join(SCOPES)}")
    if (scope == "conversation") != (conversation is not None):
        raise CellError("invalid_arguments", detail="name a conversation exactly when the scope is 'conversation'")
    return conversation or ""


async def set_policy(db: Database, workspace_id: str, *, scope: str, conversation: str | None,
                     keep_days: int | None, set_by: str) -> dict[str, Any]:
    """Set one policy (``keep_days`` None: forever); returns the workspace's policies.

    Refused, with nothing changed: ``invalid_arguments`` (days not 1-36500, a bad scope),
    ``channel_not_found`` (a conversation that is not the workspace's), ``team_not_found``."""
    channel_id = _check(scope, conversation)
    if keep_days is not None and not 1 <= keep_days <= MAX_DAYS:
        raise CellError("invalid_arguments", detail=f"keep_days must be between 1 and {MAX_DAYS} (or forever)")
    async with db.transaction() as conn:
        await _workspace(conn, workspace_id)
        if channel_id and not await holds_store.existing(conn, workspace_id, [], [channel_id]):
            raise CellError("channel_not_found", detail=f"{channel_id} is not a conversation of {workspace_id}")
        await store.set_policy(conn, workspace_id, scope, channel_id, keep_days, set_by)
        return await _show(conn, workspace_id)


async def remove_policy(db: Database, workspace_id: str, *, scope: str, conversation: str | None) -> dict[str, Any]:
    """Remove one policy (the next less specific one then applies); ``invalid_arguments`` when
    there was none. Returns the workspace's policies."""
    channel_id = _check(scope, conversation)
    async with db.transaction() as conn:
        await _workspace(conn, workspace_id)
        if not await store.remove_policy(conn, workspace_id, scope, channel_id):
            raise CellError("invalid_arguments", detail=f"no {scope} policy {channel_id}".rstrip() + " to remove")
        return await _show(conn, workspace_id)


async def show(db: Database, workspace_id: str) -> dict[str, Any]:
    """The workspace's policies (workspace, dms, then per conversation)."""
    async with db.read() as conn:
        await _workspace(conn, workspace_id)
        return await _show(conn, workspace_id)


async def _show(conn: Conn, workspace_id: str) -> dict[str, Any]:
    return {"workspace": workspace_id, "policies": [_policy_json(r) for r in await store.policies(conn, workspace_id)]}


async def _workspace(conn: Conn, workspace_id: str) -> None:
    if await directory.get_workspace(conn, workspace_id) is None:
        raise CellError("team_not_found")


async def uncollected_runs(db: Database, limit: int = 1000) -> list[dict[str, Any]]:
    """Records of runs the control plane has not copied into its audit log yet, oldest first."""
    async with db.read() as conn:
        rows = await store.uncollected_runs(conn, limit)
    return [{"workspace": r["workspace_id"], "run": r["run_id"], "started_at": r["started_at"].isoformat(),
             "finished_at": r["finished_at"].isoformat(), "counts": r["counts"]} for r in rows]


async def mark_collected(db: Database, runs: list[tuple[str, str]]) -> int:
    """Note that these ``(workspace, run)`` records are in the audit log now."""
    async with db.transaction() as conn:
        return await store.mark_collected(conn, runs)


# -- the job ------------------------------------------------------------------------------------


@dataclass
class Run:
    """One run over one workspace: its id, and the conversations it has deleted from so far."""

    workspace_id: str
    run_id: str
    conversations: set[str] = field(default_factory=set)


class Retention:
    """The retention job of one cell. ``run_once`` visits every workspace with something to do."""

    name = "retention"

    def __init__(self, db: Database, storage: Storage, config: RetentionSettings) -> None:
        self.db, self.storage, self.config = db, storage, config
        self.interval_seconds = config.interval_seconds

    async def run(self) -> None:
        await self.run_once()

    async def run_once(self, *, now_us: int | None = None) -> dict[str, dict[str, int]]:
        """Apply every policy once; returns what went, per workspace (those where anything did)."""
        async with self.db.read() as conn:
            workspaces = await store.workspaces_to_visit(conn)
        done: dict[str, dict[str, int]] = {}
        for workspace_id in workspaces:
            try:
                counts = await self.workspace(workspace_id, now_us=now_us)
            except CellError as exc:  # frozen or moved meanwhile: its new home applies the policy
                log.info("retention: workspace %s skipped (%s)", workspace_id, exc.code)
                continue
            if counts is not None:
                done[workspace_id] = counts
        return done

    async def workspace(self, workspace_id: str, *, now_us: int | None = None) -> dict[str, int] | None:
        """Apply the workspace's policies; the counts recorded for the audit log (None: nothing went).

        The run's record is written batch by batch, in each batch's own transaction: what went is
        on record even if the worker dies mid-run (the next run closes that record)."""
        now = now_us if now_us is not None else time.time_ns() // 1000
        run = Run(workspace_id, "R" + secrets.token_hex(8).upper())
        async with self.db.transaction() as conn:
            await store.open_run(conn, workspace_id, run.run_id, dt.datetime.now(dt.UTC))
        async with self.db.read() as conn:
            days = await store.effective_days(conn, workspace_id)
            workspace_days = await store.workspace_days(conn, workspace_id)
        for channel_id, keep in days.items():
            if keep is not None:
                await self._conversation(run, channel_id, now - keep * DAY_US)
        if workspace_days is not None:
            await self._private_files(run, now - workspace_days * DAY_US)
        await self._released_copies(run)
        async with self.db.transaction() as conn:
            result = await store.close_run(conn, workspace_id, run.run_id)
        if result is not None:
            log.info("retention: workspace %s: %s", workspace_id, result)
        return result

    async def _conversation(self, run: Run, channel_id: str, cutoff: int) -> None:
        workspace_id = run.workspace_id
        while True:
            async with _batch(self.db, workspace_id, self.config) as (conn, held_users, held_channels):
                if channel_id in held_channels:
                    return
                gone = await store.delete_old_messages(conn, workspace_id, channel_id, cutoff, held_users,
                                                       self.config.batch)
                if not gone:
                    return
                ts_list = [int(r["ts"]) for r in gone]
                replies = [r for r in gone if r["thread_ts"] is not None and r["thread_ts"] != r["ts"]]
                roots = sorted({int(r["thread_ts"]) for r in replies} - set(ts_list))
                for root in await store.roots_still_there(conn, workspace_id, channel_id, roots):
                    await messages.recount_replies(conn, workspace_id, channel_id, root)
                shared = await store.delete_shares(conn, workspace_id, channel_id, ts_list)
                carried = sorted({f for r in gone for f in (r["files"] or ())} | set(shared))
                files = await store.delete_unshared_files(conn, workspace_id, carried, held_users) if carried else []
                first = channel_id not in run.conversations
                await store.add_counts(conn, workspace_id, run.run_id, {
                    "messages": len(gone), "replies": len(replies),
                    "reactions": sum(int(r["reactions"]) for r in gone), "files": len(files),
                    "conversations": 1 if first else 0})
            run.conversations.add(channel_id)
            await self._drop_bytes(run, files)
            await asyncio.sleep(self.config.pause_seconds)

    async def _private_files(self, run: Run, cutoff: int) -> None:
        while True:
            async with _batch(self.db, run.workspace_id, self.config) as (conn, held_users, _):
                files = await store.delete_old_private_files(conn, run.workspace_id, cutoff, held_users,
                                                             self.config.batch)
                await store.add_counts(conn, run.workspace_id, run.run_id, {"files": len(files)})
            if not files:
                return
            await self._drop_bytes(run, files)
            await asyncio.sleep(self.config.pause_seconds)

    async def _released_copies(self, run: Run) -> None:
        """Kept copies that no active hold covers any more go (held files' bytes too)."""
        while True:
            async with _batch(self.db, run.workspace_id, self.config) as (conn, _, _):
                copies = await holds_store.purge_released_messages(conn, run.workspace_id, self.config.batch)
                shas = await holds_store.purge_released_files(conn, run.workspace_id, self.config.batch)
                await store.add_counts(conn, run.workspace_id, run.run_id, {"held_copies": copies + len(shas)})
            for sha in shas:
                await self._drop_content(run.workspace_id, sha)
            if copies < self.config.batch and len(shas) < self.config.batch:
                return
            await asyncio.sleep(self.config.pause_seconds)

    async def _drop_bytes(self, run: Run, files: list[dict[str, Any]]) -> None:
        dropped = 0
        for sha in sorted({str(f["sha256"]) for f in files if f["sha256"]}):
            if await self._drop_content(run.workspace_id, sha):
                dropped += next(int(f["size"] or 0) for f in files if f["sha256"] == sha)
        if dropped:
            async with self.db.transaction() as conn:
                await store.add_counts(conn, run.workspace_id, run.run_id, {"file_bytes": dropped})

    async def _drop_content(self, workspace_id: str, sha: str) -> bool:
        """Delete a content and its thumbnails once no file (nor held file) of the workspace has it."""
        async with self.db.read() as conn:
            if await files_store.content_in_use(conn, workspace_id, sha):
                return False
        await self.storage.delete([object_keys.content_key(workspace_id, sha),
                                   *(object_keys.thumb_key(workspace_id, sha, s) for s in file_domain.THUMB_SIZES)])
        return True


@asynccontextmanager
async def _batch(db: Database, workspace_id: str, config: RetentionSettings) -> AsyncIterator[
        tuple[Conn, list[str], set[str]]]:
    """``(conn, held people, held conversations)`` in one short transaction (bounded lock waits
    and statements) that holds the workspace's hold lock shared: ``place_hold`` takes it
    exclusively, so a batch never deletes what a hold committed meanwhile covers."""
    async with db.transaction() as conn:
        await store.limit_transaction(conn, lock_timeout_ms=config.lock_timeout_ms,
                                      statement_timeout_ms=config.statement_timeout_ms)
        await store.lock_holds_shared(conn, workspace_id)
        held_users, held_channels = await store.held_targets(conn, workspace_id)
        yield conn, held_users, held_channels
