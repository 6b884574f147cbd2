"""Do not disturb: ``dnd.info``, ``dnd.teamInfo``, ``dnd.setSnooze``, ``dnd.endSnooze``, ``dnd.endDnd``.

Each change tells the person's own devices ``dnd_updated`` (with the snooze) and the whole
workspace ``dnd_updated_user`` (what teammates see), in the change's transaction; a snooze
that ends by itself is told by the worker (:func:`tell_expired_snoozes`, a periodic job).

An ended snooze keeps its span (its end becomes the time it was ended) and ``dnd.endDnd``
records when it paused the window: the notification worker judges DND at each message's own
time, even after DND is over (cell/notify/dnd.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cell.actions.auth import Actor
from cell.domain import ids
from cell.domain.audience import Audience
from cell.errors import CellError
from cell.notify import dnd as rules
from cell.notify.prefs import dnd_of
from cell.store import notify, outbox
from cell.store.db import Conn, Database

MAX_TEAM_INFO_USERS = 50  # Slack's limit for dnd.teamInfo


def _now() -> datetime:
    return datetime.now(UTC)


async def _dnd(conn: Conn, workspace_id: str, user_id: str) -> rules.Dnd:
    rows = await notify.prefs_of(conn, workspace_id, [user_id])
    if not rows:
        raise CellError("user_not_found")
    return dnd_of(rows[0])


async def _tell(conn: Conn, workspace_id: str, user_id: str, now: datetime) -> dict[str, Any]:
    dnd = await _dnd(conn, workspace_id, user_id)
    own = rules.status(dnd, now, own=True)
    await outbox.append(conn, workspace_id, Audience.person(user_id), "dnd_updated",
                        {"type": "dnd_updated", "user": user_id, "dnd_status": own})
    await outbox.append(conn, workspace_id, Audience.workspace(), "dnd_updated_user",
                        {"type": "dnd_updated_user", "user": user_id,
                         "dnd_status": rules.status(dnd, now, own=False)})
    return own


async def tell_dnd(conn: Conn, actor: Actor, now: datetime) -> dict[str, Any]:
    """Append ``dnd_updated`` (the person's devices) and ``dnd_updated_user`` (the workspace)
    with the DND state as of this transaction; returns the person's own status."""
    return await _tell(conn, actor.workspace_id, actor.user_id, now)


EXPIRED_BATCH = 100


async def tell_expired_snoozes(db: Database) -> int:
    """Tell the end of every snooze that ended by itself (``dnd_updated`` to the person,
    ``dnd_updated_user`` to the workspace), once each, in batches; how many were told."""
    async with db.read() as conn:
        if not await notify.expired_snoozes_waiting(conn):
            return 0  # the common case: no transaction, no relay wake-up
    told = 0
    while True:
        async with db.transaction() as conn:
            ended = await notify.claim_expired_snoozes(conn, EXPIRED_BATCH)
            now = _now()
            for workspace_id, user_id in ended:
                await _tell(conn, workspace_id, user_id, now)
        told += len(ended)
        if len(ended) < EXPIRED_BATCH:
            return told


async def info(db: Database, actor: Actor, user_id: str | None) -> dict[str, Any]:
    """The caller's DND status with the snooze, or a teammate's as teammates see it."""
    own = not user_id or user_id == actor.user_id
    if not own and not ids.is_id(user_id or "", ids.USER):
        raise CellError("user_not_found")
    async with db.read() as conn:
        dnd = await _dnd(conn, actor.workspace_id, actor.user_id if own else str(user_id))
    return rules.status(dnd, _now(), own=own)


async def team_info(db: Database, actor: Actor, user_ids: list[str]) -> dict[str, Any]:
    """Teammates' DND status by id (at most 50); ``user_not_found`` if any is not one of them."""
    if not user_ids:
        raise CellError("no_users_provided")
    wanted = list(dict.fromkeys(user_ids))
    if len(wanted) > MAX_TEAM_INFO_USERS:
        raise CellError("too_many_users", detail=f"at most {MAX_TEAM_INFO_USERS} users")
    async with db.read() as conn:
        rows = await notify.prefs_of(conn, actor.workspace_id, wanted)
    if len(rows) != len(wanted):
        raise CellError("user_not_found")
    now = _now()
    return {row["user_id"]: rules.status(dnd_of(row), now, own=False) for row in rows}


def parse_minutes(value: str | int | None) -> int:
    """``num_minutes``: a whole number of minutes from 1 to a week."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise CellError("missing_duration", detail="num_minutes is required")
    try:
        minutes = int(value.strip() if isinstance(value, str) else value)
    except ValueError as exc:
        raise CellError("invalid_duration", detail="num_minutes must be a whole number of minutes") from exc
    if minutes < 1:
        raise CellError("invalid_duration", detail="num_minutes must be at least 1")
    if minutes > rules.MAX_SNOOZE_MINUTES:
        raise CellError("too_long", detail=f"num_minutes is at most {rules.MAX_SNOOZE_MINUTES} (a week)")
    return minutes


async def set_snooze(db: Database, actor: Actor, num_minutes: str | int | None) -> dict[str, Any]:
    """Snooze for ``num_minutes`` from now (a running snooze gets the new end)."""
    minutes = parse_minutes(num_minutes)
    now = _now()
    async with db.transaction() as conn:
        await notify.lock_prefs(conn, actor.workspace_id, actor.user_id)
        before = await _dnd(conn, actor.workspace_id, actor.user_id)
        began = before.snooze_from if rules.snoozing(before, now) and before.snooze_from is not None else now
        await notify.update_prefs(conn, actor.workspace_id, actor.user_id,
                                  {"snooze_until": now + timedelta(minutes=minutes), "snooze_started": began,
                                   "snooze_end_told": False})
        own = await tell_dnd(conn, actor, now)
    return {k: own[k] for k in ("snooze_enabled", "snooze_endtime", "snooze_remaining", "snooze_is_indefinite")}


async def end_snooze(db: Database, actor: Actor) -> dict[str, Any]:
    """End the caller's snooze now (its span is kept, ending now); ``snooze_not_active`` if none runs."""
    now = _now()
    async with db.transaction() as conn:
        await notify.lock_prefs(conn, actor.workspace_id, actor.user_id)
        if not rules.snoozing(await _dnd(conn, actor.workspace_id, actor.user_id), now):
            raise CellError("snooze_not_active")
        await notify.update_prefs(conn, actor.workspace_id, actor.user_id,
                                  {"snooze_until": now, "snooze_end_told": True})
        return await tell_dnd(conn, actor, now)


async def end_dnd(db: Database, actor: Actor) -> None:
    """End DND now: the snooze, and the scheduled window if one runs (the next one holds again)."""
    now = _now()
    async with db.transaction() as conn:
        await notify.lock_prefs(conn, actor.workspace_id, actor.user_id)
        dnd = await _dnd(conn, actor.workspace_id, actor.user_id)
        changes: dict[str, Any] = {"snooze_end_told": True}
        if rules.snoozing(dnd, now):
            changes["snooze_until"] = now  # the span is kept: messages posted in it stay silenced
        window = rules.current_or_next_window(dnd, now)
        if window is not None and window[0] <= now and not rules.paused(dnd, now):
            changes.update(dnd_paused_from=now, dnd_paused_until=window[1])
        await notify.update_prefs(conn, actor.workspace_id, actor.user_id, changes)
        await tell_dnd(conn, actor, now)
